"""Minimal stand-ins of the Photon 3.0 installer sources (/installer/*.py in the initrd), per ISO revision.

Each carries only the facts the builder reads, written as the real files
state them (vmware/photon, installer/ at the ISOs' build commits):

- GA (26156e2, 2019-02): installer.py has no known_keys check at all;
  iso_config.py mounts the CD at /mnt/cdrom and rebuilds install_config's
  packages from packagelist_file + additional_packages (a kickstart's own
  `packages` list is dropped); there is no additional_files step.
- Rev2 (9355405, 2019-11): installer.py's known_keys lacks linux_flavor
  ("Unknown install_config keys: linux_flavor"); isoInstaller.py mounts
  the CD at /mnt/cdrom.
- Rev3 (a383732, 2020-08): known_keys has linux_flavor; isoInstaller.py
  mounts the media at /mnt/media.
"""

REV2_KEYS = [
    "additional_files", "additional_packages", "additional_rpms_path", "arch", "autopartition",
    "bootmode", "disk", "eject_cdrom", "hostname", "install_linux_esx", "live", "log_level",
    "ostree", "packages", "packagelist_file", "partition_type", "partitions", "network", "password",
    "postinstall", "postinstallscripts", "public_key", "search_path", "setup_grub_script",
    "shadow_password", "type", "ui",
]
REV3_KEYS = REV2_KEYS + ["linux_flavor"]


def _installer_py(keys) -> str:
    listed = "".join(f"        '{key}',\n" for key in keys)
    return (
        "class Installer(object):\n"
        "    known_keys = {\n" + listed + "    }\n\n"
        "    def _check_install_config(self, install_config):\n"
        "        unknown_keys = install_config.keys() - Installer.known_keys\n"
        "        if len(unknown_keys) > 0:\n"
        "            return \"Unknown install_config keys: \" + \", \".join(unknown_keys)\n"
    )


def _mounting(class_name: str, mount_path: str) -> str:
    return (
        f"class {class_name}(object):\n"
        "    def mount_media(self, photon_media):\n"
        f"        mount_path = \"{mount_path}\"\n"
    )


GA_ISO_CONFIG = (
    "class IsoConfig(object):\n"
    "    def mount_cd(self, cd_search):\n"
    "        mount_path = \"/mnt/cdrom\"\n\n"
    "    def ks_config(self, options_file, ks_config):\n"
    "        install_config = ks_config\n"
    "        package_list = []\n"
    "        if 'packagelist_file' in install_config:\n"
    "            package_list = PackageSelector.get_packages_to_install(install_config['packagelist_file'], base_path)\n"
    "        if 'additional_packages' in install_config:\n"
    "            package_list.extend(install_config['additional_packages'])\n"
    "        install_config['packages'] = package_list\n"
)

REVISIONS = {
    "GA": {
        "installer/installer.py": "class Installer(object):\n    def install(self, params):\n        pass\n",
        "installer/isoInstaller.py": "from iso_config import IsoConfig\n",
        "installer/iso_config.py": GA_ISO_CONFIG,
    },
    "Rev2": {
        "installer/installer.py": _installer_py(REV2_KEYS),
        "installer/isoInstaller.py": _mounting("IsoInstaller", "/mnt/cdrom"),
    },
    "Rev3": {
        "installer/installer.py": _installer_py(REV3_KEYS),
        "installer/isoInstaller.py": _mounting("IsoInstaller", "/mnt/media"),
    },
}


def initrd_files(revision: str) -> list[tuple[str, bytes]]:
    """(path, data) of the revision's installer stand-ins, for the fixture initrd."""
    return [(path, text.encode()) for path, text in REVISIONS[revision].items()]
