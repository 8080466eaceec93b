"""Boot an installer ISO's own kernel with its unattended arguments, serial console only.

The build's install (--preinstall) starts the kernel and initrd of the ISO's
default boot entry directly (qemu -kernel/-initrd) with that entry's
arguments, except that the console is the serial port alone: with one
console= the stock launcher runs the installer on that terminal
(photon.md section 1.3), so the whole install, errors included, lands in
the console log the build keeps. The ISO stays attached as the CD the
installer reads its packages and kickstart from. The ISO's boot loaders
themselves are covered by the boot tests (tests/iso/test_boot.py).
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArtifact
from ..iso import bootconfig
from ..iso import detect as isodetect
from ..iso.image import IsoImage
from .machine import DirectKernel

SERIAL_CONSOLE = f"console=ttyS0,{bootconfig.SERIAL_SPEED}n8"


@dataclass(frozen=True)
class BootEntry:
    kernel: str  # paths on the ISO
    initrd: str
    arguments: tuple[str, ...]


def isolinux_entry(config: str, menu: str) -> BootEntry | None:
    """The default label of isolinux's menu: its kernel, initrd= and other arguments."""
    lines = menu.splitlines()
    default = bootconfig.isolinux_default(menu) or bootconfig.isolinux_default(config)
    blocks = bootconfig._isolinux_labels(lines)
    if not blocks:
        return None
    chosen = next((block for block in blocks
                   if any(lines[i].strip().lower() == "menu default" for i in range(block[1], block[2]))), None)
    chosen = chosen or next((block for block in blocks if block[0] == default), blocks[0])
    kernel, words = None, []
    for index in range(chosen[1], chosen[2]):
        keyword, _, rest = lines[index].strip().partition(" ")
        if keyword.lower() in ("kernel", "linux"):
            kernel = rest.strip()
        elif keyword.lower() == "append":
            words = rest.split()
    initrd = next((word.split("=", 1)[1] for word in words if word.startswith("initrd=")), None)
    if kernel is None or initrd is None:
        return None
    others = tuple(word for word in words if not word.startswith("initrd="))
    return BootEntry(_on_iso(kernel, "/isolinux"), _on_iso(initrd.split(",")[0], "/isolinux"), others)


def grub_entry(grub: str) -> BootEntry | None:
    """GRUB's first menuentry (the one the build edited): linux and initrd lines."""
    kernel = initrd = None
    words: list[str] = []
    for line in grub.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in ("linux", "linuxefi") and kernel is None:
            kernel, words = parts[1], parts[2:]
        elif parts[0] in ("initrd", "initrdefi") and kernel is not None and initrd is None:
            initrd = parts[1]
    if kernel is None or initrd is None:
        return None
    # GRUB variables ($photondisk) mean nothing outside GRUB: the CD is the media
    others = tuple("photon.media=cdrom" if "$" in word and word.startswith("photon.media=") else word
                   for word in words if "$" not in word or word.startswith("photon.media="))
    return BootEntry(kernel, initrd, others)


def _on_iso(path: str, directory: str) -> str:
    return path if path.startswith("/") else f"{directory}/{path}"


def serial_arguments(arguments: tuple[str, ...]) -> str:
    """The entry's arguments with the serial port as the one console."""
    kept = [word for word in arguments if not word.startswith("console=")]
    return shlex.join(kept + [SERIAL_CONSOLE])


def installer_boot(iso: Path, workdir: Path) -> DirectKernel:
    """Copy the default entry's kernel and initrd out of `iso` into `workdir`; the boot to run them."""
    with IsoImage(iso) as image:
        files = image.files()
        entry = None
        if isodetect.ISOLINUX_MENU in files and isodetect.ISOLINUX_CFG in files:
            entry = isolinux_entry(image.read(isodetect.ISOLINUX_CFG).decode("utf-8", "replace"),
                                   image.read(isodetect.ISOLINUX_MENU).decode("utf-8", "replace"))
        if entry is None and isodetect.GRUB_CFG in files:
            entry = grub_entry(image.read(isodetect.GRUB_CFG).decode("utf-8", "replace"))
        if entry is None or entry.kernel not in files or entry.initrd not in files:
            raise InvalidArtifact(f"{iso.name}: no boot entry with a kernel and an initrd on the ISO to install with")
        paths = []
        for name in (entry.kernel, entry.initrd):
            target = Path(workdir) / Path(name).name
            with image.open(name) as source, open(target, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            paths.append(target)
    return DirectKernel(paths[0], paths[1], serial_arguments(entry.arguments))
