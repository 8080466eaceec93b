"""Fixture ISOs laid out like stock Photon OS installer ISOs, and a qemu boot probe.

The layout follows ../shared/reference/photon.md section 1: isolinux (Debian's
syslinux 6 modules, the stock Photon isolinux.cfg/menu.cfg), a GRUB EFI
image in boot/grub2/efiboot.img reading /boot/grub2/grub.cfg from the ISO,
RPMS/ with repodata, the PHOTON_VMWARE_CD marker, mkisofs options of the
Photon builders. The kernel is Debian's; the initrd is a tiny busybox system
that prints /proc/cmdline to the serial port and powers off, so a boot test
shows exactly what the boot loader passed to the installer kernel.
"""

import glob
import gzip
import io
import os
import random
import shutil
import stat
import subprocess
import time
from pathlib import Path

CMDLINE_MARKER = "FIXTURE-CMDLINE:"

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

INIT_SCRIPT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox echo "{CMDLINE_MARKER} $(/bin/busybox cat /proc/cmdline)" > /dev/ttyS0
/bin/busybox poweroff -f
"""


def kernel_path() -> Path:
    found = sorted(glob.glob("/boot/vmlinuz-*"))
    if not found:
        raise FileNotFoundError("no /boot/vmlinuz-*: install linux-image-amd64")
    return Path(found[-1])


def newc_cpio(entries) -> bytes:
    """A newc cpio archive of (name, mode, data, rdev_major, rdev_minor) entries."""
    out = io.BytesIO()
    for ino, (name, mode, data, major, minor) in enumerate(list(entries) + [("TRAILER!!!", 0, b"", 0, 0)], 1):
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(encoded), 0]
        out.write(b"070701" + b"".join(b"%08X" % value for value in fields) + encoded)
        out.write(b"\0" * ((4 - out.tell() % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - out.tell() % 4) % 4))
    return out.getvalue()


def busybox_initrd(extra_files=()) -> bytes:
    busybox = Path("/bin/busybox").read_bytes()
    entries = [
        ("bin", stat.S_IFDIR | 0o755, b"", 0, 0),
        ("dev", stat.S_IFDIR | 0o755, b"", 0, 0),
        ("proc", stat.S_IFDIR | 0o755, b"", 0, 0),
        ("dev/console", stat.S_IFCHR | 0o600, b"", 5, 1),
        ("dev/ttyS0", stat.S_IFCHR | 0o600, b"", 4, 64),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox, 0, 0),
        ("init", stat.S_IFREG | 0o755, INIT_SCRIPT.encode(), 0, 0),
    ]
    for name, data in extra_files:
        parts = name.split("/")
        for index in range(1, len(parts)):
            directory = "/".join(parts[:index])
            if not any(entry[0] == directory for entry in entries):
                entries.append((directory, stat.S_IFDIR | 0o755, b"", 0, 0))
        entries.append((name, stat.S_IFREG | 0o644, data, 0, 0))
    return gzip.compress(newc_cpio(entries), mtime=0)


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
) -> Path:
    """Build a Photon-like installer ISO in `workdir` and return its path.

    `rpms` are RPM files put under RPMS/<arch>/ with repodata made by
    createrepo_c. `installer_in_initrd` ("2.7") puts a photon_installer
    egg-info into the initrd, as 4.0/5.0 ISOs have; release "3.0" puts
    /installer/isoInstaller.py there.
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
        extra.append(("installer/isoInstaller.py", b"# Photon 3.0 installer stand-in\n"))
    elif installer_in_initrd:
        extra.append((f"usr/lib/python3.11/site-packages/photon_installer-{installer_in_initrd}-py3.11.egg-info/PKG-INFO",
                      b"Name: photon-installer\n"))
    (isolinux / "initrd.img").write_bytes(busybox_initrd(extra))
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


def boot_cmdline(iso: Path, workdir: Path, *, firmware: str, seconds: float) -> tuple[str | None, float]:
    """Boot `iso` in qemu with no input; return (kernel command line or None, seconds taken).

    None means the fixture kernel did not start within `seconds`.
    """
    log = workdir / f"serial-{firmware}.log"
    log.unlink(missing_ok=True)
    command = [
        "qemu-system-x86_64", "-m", "512", "-display", "none", "-no-reboot",
        "-serial", f"file:{log}", "-monitor", "none",
        "-accel", "tcg",
    ]
    if firmware == "bios":
        command += ["-machine", "pc", "-cdrom", str(iso), "-boot", "d"]
    else:
        code = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
        variables = workdir / "OVMF_VARS.fd"
        shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", variables)
        command += [
            "-machine", "q35",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={variables}",
            "-cdrom", str(iso),
        ]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.monotonic() - started < seconds:
            exited = process.poll() is not None
            if log.exists():
                for line in log.read_text(errors="replace").splitlines():
                    if CMDLINE_MARKER in line:
                        return line.split(CMDLINE_MARKER, 1)[1].strip(), time.monotonic() - started
            if exited:
                break
            time.sleep(0.25)
        return None, time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
