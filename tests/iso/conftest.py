"""Fixture ISOs, built once per session (a few seconds each)."""

import shutil

import pytest

from . import fixtures


def require(*tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip("needs %s (installed by scripts/test)" % ", ".join(missing))


@pytest.fixture(scope="session")
def hybrid_iso(tmp_path_factory):
    require("xorriso", "grub-mkimage", "mkfs.vfat", "mcopy", "createrepo_c")
    return fixtures.make_photon_iso(tmp_path_factory.mktemp("hybrid"), isohybrid=True, installer_in_initrd="2.7")


# Packages of the fixture Photon repository: name -> (arch, requires, provides, files).
# The load-balancer half (haproxy, keepalived and what only they need) is what
# a minimal ISO lacks (../shared/reference/photon.md section 7.1).
BASE_PACKAGES = {
    "photon-release": ("noarch", [], [], {}),
    "photon-os-installer": ("noarch", ["python3"], [], {}),
    "filesystem": ("noarch", [], [], {}),
    "bash": ("noarch", ["filesystem"], [], {"/bin/bash": "#!fake\n", "/bin/sh": "#!fake\n"}),
    "minimal": ("noarch", ["bash", "iptables", "python3", "open-vm-tools"], [], {}),
    "linux-esx": ("x86_64", ["filesystem"], ["kernel = 6.1.10"], {}),
    "initramfs": ("noarch", ["/bin/sh"], [], {}),
    "iptables": ("x86_64", ["/bin/sh"], [], {}),
    "python3": ("x86_64", ["bash"], ["/usr/bin/python3"], {"/usr/bin/python3": "#!fake\n"}),
    "python3-markupsafe": ("x86_64", ["python3"], [], {}),
    "python3-jinja2": ("noarch", ["python3", "python3-markupsafe >= 1.0"], [], {}),
    "open-vm-tools": ("x86_64", ["/bin/sh"], [], {}),
    "openssh-server": ("x86_64", ["/bin/sh"], [], {}),
    "sudo": ("x86_64", [], [], {}),
    "less": ("x86_64", [], [], {}),
}
LB_PACKAGES = {
    "lua": ("x86_64", [], ["liblua-5.4.so()(64bit)"], {}),
    "haproxy": ("x86_64", ["liblua-5.4.so()(64bit)", "/bin/sh"], [], {}),
    "perl": ("x86_64", [], ["perl(Carp)"], {}),
    "net-snmp": ("x86_64", ["perl(Carp)"], [], {}),
    "libnl": ("x86_64", [], [], {}),
    "keepalived": ("x86_64", ["net-snmp", "libnl", "iptables", "/bin/sh"], [], {}),
}
VERSIONS = {"photon-release": "5.0", "photon-os-installer": "2.7", "python3-markupsafe": "2.1.2"}


def _build_packages(workdir, packages, dist):
    from tests.repo.rpmfixtures import build_rpm

    built = {}
    for name, (arch, requires, provides, files) in packages.items():
        version = VERSIONS.get(name, "1.0")
        if name == "photon-release":
            version = dist[2] + ".0"
        built[name] = build_rpm(
            workdir, name, version=version, release="1." + dist, arch=arch,
            requires=requires, provides=provides, files=files,
        )
    return built


@pytest.fixture(scope="session")
def photon_rpms(tmp_path_factory):
    """{release: (base rpm paths, load-balancer rpm paths)} for 4.0 and 5.0."""
    require("rpmbuild")
    found = {}
    for release, dist in (("4.0", "ph4"), ("5.0", "ph5")):
        workdir = tmp_path_factory.mktemp("rpms-" + dist)
        base = dict(BASE_PACKAGES)
        if release == "4.0":
            base.pop("photon-os-installer")  # 4.0 fixture: the installer is found in the initrd
        found[release] = (
            sorted(_build_packages(workdir, base, dist).values()),
            sorted(_build_packages(workdir, LB_PACKAGES, dist).values()),
        )
    return found


@pytest.fixture(scope="session")
def full_iso(tmp_path_factory, photon_rpms):
    """Photon 5.0 full-ISO look-alike: every package the appliance needs."""
    base, lb = photon_rpms["5.0"]
    return fixtures.make_photon_iso(tmp_path_factory.mktemp("full5"), release="5.0", rpms=base + lb)


@pytest.fixture(scope="session")
def minimal_iso(tmp_path_factory, photon_rpms):
    """Photon 4.0 minimal-ISO look-alike: no haproxy, keepalived or their dependencies."""
    base, _lb = photon_rpms["4.0"]
    return fixtures.make_photon_iso(
        tmp_path_factory.mktemp("min4"), release="4.0", rpms=base, installer_in_initrd="2.0"
    )


@pytest.fixture(scope="session")
def lb_rpm_dir(tmp_path_factory, photon_rpms):
    """The 4.0 RPMs a minimal ISO lacks, as a --rpm-dir."""
    directory = tmp_path_factory.mktemp("rpmdir4")
    for rpm in photon_rpms["4.0"][1]:
        shutil.copy(rpm, directory / rpm.name)
    return directory
