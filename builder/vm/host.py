"""Find qemu, qemu-img and the firmware files on the build machine.

Anything missing is one line naming the package to install, never a qemu
error half a minute into a build. BIOS is SeaBIOS, qemu's default firmware
(its bios-256k.bin only has to exist); UEFI is OVMF, a read-only code image
plus a template of the NVRAM variables that every VM gets a private copy of.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError

QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
FIRMWARES = ("bios", "efi")

# Where distributions put the files (Debian/Ubuntu first). Secure-boot variants are left out:
# their enrolled keys would refuse an unsigned boot loader.
SEABIOS_PATHS = (
    "/usr/share/seabios/bios-256k.bin",
    "/usr/share/qemu/bios-256k.bin",
    "/usr/share/qemu/bios.bin",
)
OVMF_PAIRS = (
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"),
    ("/usr/share/qemu/edk2-x86_64-code.fd", "/usr/share/qemu/edk2-i386-vars.fd"),
)
INSTALL_HINTS = {
    QEMU: "qemu-system-x86 (Debian/Ubuntu), qemu-system-x86-core (Fedora)",
    QEMU_IMG: "qemu-utils (Debian/Ubuntu), qemu-img (Fedora)",
    "bios": "seabios (Debian/Ubuntu), seabios-bin (Fedora)",
    "efi": "ovmf (Debian/Ubuntu), edk2-ovmf (Fedora)",
}


class VmUnavailable(BuildError):
    """The build machine cannot run the VM: qemu, qemu-img or a firmware file is missing."""


@dataclass(frozen=True)
class Firmware:
    kind: str  # "bios" or "efi"
    code: Path | None = None  # OVMF code (read-only pflash); None for SeaBIOS, qemu's default
    vars_template: Path | None = None  # OVMF NVRAM template, copied per VM


def find_tool(name: str, purpose: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise VmUnavailable(f"{purpose} needs {name}: install {INSTALL_HINTS[name]}")
    return Path(found)


def find_qemu(purpose: str = "running the VM") -> Path:
    return find_tool(QEMU, purpose)


def find_firmware(kind: str, purpose: str = "running the VM", *, search=None) -> Firmware:
    """The firmware of this kind; `search` replaces the path lists (tests)."""
    if kind not in FIRMWARES:
        raise ValueError(kind)
    if kind == "bios":
        paths = search if search is not None else _seabios_paths()
        for path in paths:
            if Path(path).is_file():
                return Firmware("bios")
        raise VmUnavailable(f"{purpose} with BIOS needs SeaBIOS (bios-256k.bin): install {INSTALL_HINTS['bios']}")
    pairs = search if search is not None else _ovmf_pairs()
    for code, variables in pairs:
        if Path(code).is_file() and Path(variables).is_file():
            return Firmware("efi", Path(code), Path(variables))
    raise VmUnavailable(f"{purpose} with UEFI needs OVMF (OVMF_CODE*.fd and OVMF_VARS*.fd): "
                        f"install {INSTALL_HINTS['efi']}")


def _seabios_paths():
    # qemu built from source looks in <prefix>/share/qemu beside its binary
    qemu = shutil.which(QEMU)
    extra = [Path(qemu).resolve().parent.parent / "share" / "qemu" / "bios-256k.bin"] if qemu else []
    return [*SEABIOS_PATHS, *extra]


def _ovmf_pairs():
    # An explicit pair wins, for distributions with other names.
    code, variables = os.environ.get("BUILD_APPLIANCE_OVMF_CODE"), os.environ.get("BUILD_APPLIANCE_OVMF_VARS")
    return [(code, variables)] if code and variables else list(OVMF_PAIRS)
