"""Fixture ISOs laid out like stock Photon OS installer ISOs, and a qemu boot probe.

The layout follows ../shared/reference/photon.md section 1: isolinux (Debian's
syslinux 6 modules, the stock Photon isolinux.cfg/menu.cfg), a GRUB EFI
image in boot/grub2/efiboot.img reading /boot/grub2/grub.cfg from the ISO,
RPMS/ with repodata, the PHOTON_VMWARE_CD marker, mkisofs options of the
Photon builders. The kernel is Debian's; the initrd is tests/bootchain.py's
stock-Photon-like boot chain (gettys, autologin, the launcher's terminal
rule) with a stand-in photon-installer that reports on the serial port the
terminal it was started on and the kernel command line, then powers off.
"""

import glob
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests import bootchain

INSTALLER_MARKER = "FIXTURE-INSTALLER:"

STOCK_ISOLINUX_CFG = """include menu.cfg
default vesamenu.c32
prompt 0
timeout 0
"""

STOCK_MENU_CFG = """menu hshift 7
menu width 61

menu title PHOTON
menu background splash.png
menu color border 0 #ffffffff #00000000
menu color sel 7 #ffffffff #ff000000

default install
label install
    menu label ^Install
    menu default
    kernel vmlinuz
    append initrd=initrd.img root=/dev/ram0 loglevel=3 photon.media=cdrom
"""

STOCK_GRUB_CFG = """set default=0
set timeout=3
loadfont ascii
set gfxmode="1024x768"
gfxpayload=keep
set theme=/boot/grub2/themes/photon/theme.txt
terminal_output gfxterm
probe -s photondisk -u ($root)

menuentry "Install" {
    linux /isolinux/vmlinuz root=/dev/ram0 loglevel=3 photon.media=UUID=$photondisk
    initrd /isolinux/initrd.img
}
"""

SYSLINUX_MODULES = "/usr/lib/syslinux/modules/bios"
ISOLINUX_BIN = "/usr/lib/ISOLINUX/isolinux.bin"
ISOHYBRID_MBR = "/usr/lib/ISOLINUX/isohdpfx.bin"
GRUB_MODULES = (
    "normal linux configfile iso9660 fat part_gpt part_msdos search search_fs_uuid search_label "
    "probe echo test serial terminal all_video gfxterm font efi_gop loadenv"
).split()

# The stand-in photon-installer: says where it runs and with what, on the UART, then powers off.
REPORTING_INSTALLER = f"""#!/bin/busybox sh
echo "{INSTALLER_MARKER} tty=$(tty) cwd=$(pwd) args=$* cmdline=$(cat /proc/cmdline)" > /dev/ttyS0
sync
poweroff -f
"""


def kernel_path() -> Path:
    found = sorted(glob.glob("/boot/vmlinuz-*"))
    if not found:
        raise FileNotFoundError("no /boot/vmlinuz-*: install linux-image-amd64")
    return Path(found[-1])


def installer_initrd(extra_files=(), *, release: str = "5.0") -> bytes:
    """A stock-Photon-like initrd whose photon-installer is the reporting stand-in."""
    return bootchain.stock_initrd(REPORTING_INSTALLER, extra_files, release=release)


def grub_efi_image(workdir: Path) -> Path:
    """A 3 MiB FAT image with EFI/BOOT/BOOTX64.EFI, a GRUB whose prefix is /boot/grub2 (as Photon's)."""
    efi = workdir / "BOOTX64.EFI"
    subprocess.run(
        ["grub-mkimage", "-O", "x86_64-efi", "-p", "/boot/grub2", "-o", str(efi), *GRUB_MODULES],
        check=True, capture_output=True,
    )
    image = workdir / "efiboot.img"
    image.unlink(missing_ok=True)
    subprocess.run(["mkfs.vfat", "-C", str(image), "3072"], check=True, capture_output=True)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    subprocess.run(["mmd", "-i", str(image), "::/EFI", "::/EFI/BOOT"], check=True, capture_output=True, env=env)
    subprocess.run(["mcopy", "-i", str(image), str(efi), "::/EFI/BOOT/BOOTX64.EFI"], check=True,
                   capture_output=True, env=env)
    return image


def make_photon_iso(
    workdir: Path,
    *,
    release: str = "5.0",
    rpms=(),
    installer_in_initrd: str | None = None,
    isohybrid: bool = False,
    label: str = "PHOTON_20250101",
    filler_bytes: int = 0,
    photon3_revision: str = "Rev3",
) -> Path:
    """Build a Photon-like installer ISO in `workdir` and return its path.

    `rpms` are RPM files put under RPMS/<arch>/ with repodata made by
    createrepo_c. `installer_in_initrd` ("2.7") puts a photon_installer
    egg-info into the initrd, as 4.0/5.0 ISOs have; release "3.0" puts
    stand-ins of that revision's /installer/*.py there (tests/iso/photon3.py).
    """
    tree = workdir / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    isolinux = tree / "isolinux"
    grub = tree / "boot" / "grub2"
    isolinux.mkdir(parents=True)
    grub.mkdir(parents=True)
    shutil.copy(ISOLINUX_BIN, isolinux / "isolinux.bin")
    for module in ("ldlinux.c32", "libcom32.c32", "libutil.c32", "vesamenu.c32"):
        shutil.copy(Path(SYSLINUX_MODULES) / module, isolinux / module)
    (isolinux / "isolinux.cfg").write_text(STOCK_ISOLINUX_CFG)
    (isolinux / "menu.cfg").write_text(STOCK_MENU_CFG)
    (isolinux / "sample_ks.cfg").write_text('{"disk": "/dev/sda", "packagelist_file": "packages_minimal.json"}\n')
    shutil.copy(kernel_path(), isolinux / "vmlinuz")
    extra = []
    if release == "3.0":
        from . import photon3

        extra.extend(photon3.initrd_files(photon3_revision))
    elif installer_in_initrd:
        extra.append((f"usr/lib/python3.11/site-packages/photon_installer-{installer_in_initrd}-py3.11.egg-info/PKG-INFO",
                      b"Name: photon-installer\n"))
    (isolinux / "initrd.img").write_bytes(installer_initrd(extra, release=release))
    (grub / "grub.cfg").write_text(STOCK_GRUB_CFG)
    shutil.copy(grub_efi_image(workdir), grub / "efiboot.img")
    (tree / "PHOTON_VMWARE_CD").write_bytes(b"")
    repo = tree / "RPMS"
    for arch in ("x86_64", "noarch"):
        (repo / arch).mkdir(parents=True)
    for rpm in rpms:
        arch = Path(rpm).name.rsplit(".", 2)[-2]
        shutil.copy(rpm, repo / ("noarch" if arch == "noarch" else "x86_64") / Path(rpm).name)
    subprocess.run(["createrepo_c", "--quiet", "--database", str(repo)], check=True, capture_output=True)
    if release == "5.0":
        # Photon 5's ISO builder adds a relative symlink to the primary metadata.
        primary = next((repo / "repodata").glob("*-primary.xml.gz"))
        (repo / "repodata" / "primary.xml.gz").symlink_to(primary.name)
    # Incompressible stand-ins for a full ISO's RPMs (4 MiB each; not in the repodata).
    filler_size = 4 * 2**20
    for number in range(-(-filler_bytes // filler_size)):
        with open(repo / "x86_64" / f"filler-{number:05d}-1.0-1.ph5.x86_64.rpm", "wb") as out:
            out.write(random.Random(number).randbytes(filler_size))
    output = workdir / f"photon-{release}-fixture.iso"
    command = [
        "xorriso", "-as", "mkisofs", "-R", "-l", "-L", "-D",
        "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
        "-eltorito-alt-boot", "-e", "boot/grub2/efiboot.img", "-no-emul-boot",
        "-V", label, "-o", str(output),
    ]
    if isohybrid:
        command[3:3] = ["-isohybrid-mbr", ISOHYBRID_MBR, "-isohybrid-gpt-basdat"]
    subprocess.run(command + [str(tree)], check=True, capture_output=True,
                   env=dict(os.environ, SOURCE_DATE_EPOCH="1735689600"))
    return output


def kvm_available() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


@dataclass
class InstallerStart:
    """Where and how the stand-in installer was started (None fields: it was not)."""

    tty: str | None
    cmdline: list[str] | None
    args: str | None
    report: bootchain.BootReport


def boot_installer(iso: Path, workdir: Path, *, firmware: str, seconds: float) -> InstallerStart:
    """Boot `iso` in qemu with no input and report whether, where and with what the installer started."""
    report = bootchain.watch_boot(iso, workdir, firmware=firmware, seconds=seconds, done_marker=INSTALLER_MARKER)
    found = report.find(INSTALLER_MARKER)
    if found is None:
        return InstallerStart(None, None, None, report)
    tty = found.split("tty=", 1)[1].split(" ", 1)[0]
    args = found.split(" args=", 1)[1].split(" cmdline=", 1)[0]
    cmdline = found.split(" cmdline=", 1)[1].split()
    return InstallerStart(tty, cmdline, args, report)
