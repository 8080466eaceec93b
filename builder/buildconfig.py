"""The profile's build-time tables ([vm], [photon]) as one settings table, parsed once and frozen.

The agent validates everything it uses at first boot; these settings only
matter to the builder (installer kickstart, OVF hardware), so they are
checked here, each with a one-line reason and fix.
"""

import re
from dataclasses import dataclass
from typing import Any, Callable

from appliance_agent.profile import shown, shown_key

from .errors import InvalidInput

LINUX_FLAVORS = ("linux", "linux-esx", "linux-secure", "linux-rt", "linux-aws")
FIRMWARES = ("efi", "bios")


@dataclass(frozen=True)
class Setting:
    table: str
    name: str
    parse: Callable[[Any, str], Any]
    default: Any
    help: str


def _int_range(low: int, high: int):
    def parse(value, where):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{where} must be a whole number from {low} to {high}, got {shown(value)}")
        return value

    return parse


def _choice(*choices: str):
    def parse(value, where):
        if value not in choices:
            raise InvalidInput(f"{where} must be one of {', '.join(choices)}, got {shown(value)}")
        return value

    return parse


def _package_list(value, where):
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise InvalidInput(f"{where} must be a non-empty list of package names")
    bad = [item for item in value if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", item)]
    if bad:
        raise InvalidInput(f"{where}: {shown(bad[0])} is not a package name; use the RPM's name, e.g. haproxy")
    return tuple(dict.fromkeys(value))


def _disk(value, where):
    if not isinstance(value, str) or not re.fullmatch(r"/dev/[A-Za-z0-9/_-]+", value):
        raise InvalidInput(f"{where} must be a device path such as /dev/sda, got {shown(value)}")
    return value


def _password_hash(value, where):
    # A SHA-512 crypt hash (mkpasswd -m sha-512) or "" for a locked root; never plaintext.
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}", value):
        raise InvalidInput(
            f"{where} must be a SHA-512 crypt hash ($6$...); make one with `mkpasswd -m sha-512` "
            "or leave it empty to lock root until the OVF form sets a password"
        )
    return value


SETTINGS = (
    Setting("vm", "cpus", _int_range(1, 128), 2, "virtual CPUs"),
    Setting("vm", "memory_mb", _int_range(512, 1024 * 1024), 2048, "memory in MiB"),
    Setting("vm", "disk_gb", _int_range(4, 2048), 16, "system disk size in GiB"),
    Setting("vm", "firmware", _choice(*FIRMWARES), "efi", "boot firmware of the VM"),
    Setting("vm", "hardware_version", _int_range(11, 21), 15, "vmx hardware version"),
    Setting("photon", "linux_flavor", _choice(*LINUX_FLAVORS), "linux-esx", "kernel flavour to install"),
    Setting("photon", "packages", _package_list, ("minimal",), "packages the installer installs"),
    Setting("photon", "disk", _disk, "/dev/sda", "disk the installer erases and installs onto"),
    Setting("photon", "root_password_hash", _password_hash, "", "root's password hash at install time"),
)


@dataclass(frozen=True)
class VmSettings:
    cpus: int
    memory_mb: int
    disk_gb: int
    firmware: str
    hardware_version: int

    @property
    def disk_bytes(self) -> int:
        return self.disk_gb * 1024**3


@dataclass(frozen=True)
class PhotonSettings:
    linux_flavor: str
    packages: tuple[str, ...]
    disk: str
    root_password_hash: str

    @property
    def install_packages(self) -> tuple[str, ...]:
        """The package list with the kernel flavour in it (the installer needs it listed)."""
        if self.linux_flavor in self.packages:
            return self.packages
        return self.packages + (self.linux_flavor,)


def _parse_table(profile, table: str) -> dict:
    data = dict(getattr(profile, table))
    known = {setting.name for setting in SETTINGS if setting.table == table}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"profile [{table}]: unknown setting {shown_key(unknown[0])}; remove it "
                           f"(known: {', '.join(sorted(known))})")
    values = {}
    for setting in SETTINGS:
        if setting.table == table:
            raw = data.get(setting.name, setting.default)
            values[setting.name] = setting.parse(raw, f"profile {table}.{setting.name}")
    return values


def vm_settings(profile) -> VmSettings:
    return VmSettings(**_parse_table(profile, "vm"))


def photon_settings(profile) -> PhotonSettings:
    return PhotonSettings(**_parse_table(profile, "photon"))
