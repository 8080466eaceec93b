"""The fixture installer initrd, made from the stand-in root tarball.

Like a stock Photon initrd (../shared/reference/photon.md section 1.3 and
photon-os-installer generate_initrd.py) it is a small root of the same
distribution as the installed system, packed as a gzip'd newc cpio: /init
mounts /proc and starts systemd; getty@tty1 and (when the kernel has
console=ttyS0) serial-getty@ttyS0 log root in automatically; root's login
shell is the launcher /bin/bootphotoninstaller, which starts photon-installer
on one terminal by the stock rule. The installer's tools (sgdisk, mkfs,
grub-install, tar, python3) are the stand-in root's own binaries, so no host
library has to be copied and the initrd matches the installed system.
"""

import gzip
import hashlib
import io
import re
import stat
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent / "initrd"
INSTALLER_VERSION = "2.7"
RELEASE = "5.0"

# Photon's /init (generate_initrd.py create_init_script).
INIT = "mount -t proc proc /proc\n/lib/systemd/systemd\n"

# Modules the installer VM needs before udev can find anything else: the CD,
# the disk controllers qemu and vSphere offer, and the file systems.
BOOT_MODULES = ["ata_piix", "ahci", "sr_mod", "sd_mod", "virtio_pci", "virtio_blk", "virtio_scsi",
                "vmw_pvscsi", "nvme", "isofs", "ext4", "vfat", "nls_ascii", "nls_cp437", "nls_iso8859-1", "nls_utf8",
                "efivarfs", "crc32c_generic", "crc32c-intel", "virtio_net", "e1000", "e1000e"]

# Left out as Photon's clean_up leaves out docs, /boot and caches.
SKIPPED = re.compile(r"^(boot/.+|usr/share/(doc|man|info|locale)/.+|usr/lib/grub/[^/]+/monolithic/.*"
                     r"|usr/lib/udev/hwdb\.d/.+|var/cache/.+|var/lib/apt/lists/.+|initrd\.img.*|vmlinuz.*)$")
MODULE = re.compile(r"^usr/lib/modules/[^/]+/(kernel/.+\.ko)$")

# Masked as in Photon's initrd (vmtoolsd, vgauthd), and the daemons of the
# installed system that have no business in the installer environment.
MASKED = ["vmtoolsd.service", "vgauthd.service", "open-vm-tools.service", "ssh.service",
          "iptables.service", "haproxy.service", "keepalived.service"]
# The stand-in root enables a serial getty for observation; the initrd must
# have only the stock chain (systemd's generator adds it for console=ttyS0).
DROPPED = {"etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"}

GETTY_EXEC = {
    "usr/lib/systemd/system/getty@.service": "ExecStart=-/sbin/agetty --autologin root --noclear %I linux",
    "usr/lib/systemd/system/serial-getty@.service":
        "ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,38400,9600 %I screen",
}


def launcher(release: str = RELEASE) -> str:
    """/bin/bootphotoninstaller: the stock rule (generate_initrd.py create_installer_script).

    The whole of /sys/devices/virtual/tty/console/active is compared: "tty0"
    means tty1; otherwise only the terminal of exactly that name starts the
    installer, and every other terminal gets a root shell.
    """
    return f"""#!/bin/bash
cd /installer
ACTIVE_CONSOLE="$(< /sys/devices/virtual/tty/console/active)"
install() {{
    LANG=en_US.UTF-8 photon-installer -i iso -o build_install_options_custom.json -e EULA.txt -t "LICENSE AGREEMENT" -v {release} && shutdown -r now
}}
try_run_installer() {{
    if [ "$ACTIVE_CONSOLE" == "tty0" ]; then
        [ "$(tty)" == '/dev/tty1' ] && install
    else
        [ "$(tty)" == "/dev/$ACTIVE_CONSOLE" ] && install
    fi
}}
try_run_installer || exec /bin/bash
"""


def extra_files(release: str = RELEASE) -> list[tuple[str, int, bytes]]:
    """(path, mode, data) added to the root's files. Their parent directories are made
    as real directories: never put one under a symlink of the root (/bin, /lib, /sbin)."""
    installer = (HERE / "photon-installer").read_bytes()
    egg = f"usr/lib/python3.11/site-packages/photon_installer-{INSTALLER_VERSION}-py3.11.egg-info/PKG-INFO"
    files = [
        (egg, 0o644, f"Name: photon-installer\nVersion: {INSTALLER_VERSION}\n".encode()),
        ("init", 0o755, INIT.encode()),
        ("usr/bin/bootphotoninstaller", 0o755, launcher(release).encode()),
        ("usr/lib/photon-installer/photon-installer", 0o755, installer),
        ("usr/lib/photon-installer/user.cfg", 0o644, (HERE / "user.cfg").read_bytes()),
        ("installer/EULA.txt", 0o644, b"Stand-in EULA.\n"),
        ("installer/build_install_options_custom.json", 0o644, b'{"minimal": {"title": "Photon Minimal"}}\n'),
        ("etc/fstab", 0o644, b""),
    ]
    return files


def recipe_digest(release: str = RELEASE) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name, mode, data in extra_files(release):
        digest.update(f"{name}:{mode}:".encode() + data)
    return digest.hexdigest()[:16]


def module_closure(tar: tarfile.TarFile, members) -> set[str]:
    """Paths (kernel/...) of BOOT_MODULES and everything they depend on, from modules.dep."""
    dep = next(m for m in members if m.name.endswith("/modules.dep"))
    deps = {}
    for line in tar.extractfile(dep).read().decode().splitlines():
        module, _, needed = line.partition(":")
        deps[module] = needed.split()
    by_name = {Path(path).name[:-3].replace("-", "_"): path for path in deps}
    wanted, todo = set(), [by_name[name.replace("-", "_")] for name in BOOT_MODULES if name.replace("-", "_") in by_name]
    while todo:
        path = todo.pop()
        if path not in wanted:
            wanted.add(path)
            todo.extend(deps.get(path, []))
    return wanted


class Cpio:
    """A newc cpio writer (the format the kernel unpacks), streaming to `out`."""

    def __init__(self, out):
        self.out, self.ino, self.offset = out, 1, 0

    def _write(self, data: bytes):
        self.out.write(data)
        self.offset += len(data)

    def _pad(self):
        self._write(b"\0" * ((4 - self.offset % 4) % 4))

    def add(self, name: str, mode: int, data: bytes = b"", uid=0, gid=0, mtime=0, rdev=(0, 0)):
        encoded = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = [self.ino, mode, uid, gid, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
        self.ino += 1
        self._write(b"070701" + b"".join(b"%08X" % value for value in fields) + encoded)
        self._pad()
        self._write(data)
        self._pad()

    def close(self):
        self.add("TRAILER!!!", 0)


def build_initrd(root_tar: Path, output: Path, release: str = RELEASE) -> Path:
    """Write the installer initrd for the stand-in root tarball `root_tar` to `output`."""
    extras = extra_files(release)
    replaced = {name for name, _, _ in extras}
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(root_tar) as tar, open(partial, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as packed:
        members = tar.getmembers()
        modules = module_closure(tar, members)
        cpio = Cpio(packed)
        made = set()
        added = [(name, stat.S_IFREG | mode, data) for name, mode, data in extras]
        added += [(f"etc/systemd/system/{unit}", stat.S_IFLNK | 0o777, b"/dev/null") for unit in MASKED]
        added.append(("usr/bin/photon-installer", stat.S_IFLNK | 0o777, b"/usr/lib/photon-installer/photon-installer"))
        for name, mode, data in added:  # first, so a scan for the installer version stops early
            parts = name.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    made.add(directory)
                    cpio.add(directory, stat.S_IFDIR | 0o755)
            cpio.add(name, mode, data)
        for member in members:
            name = member.name.removeprefix("./").rstrip("/") if member.name not in (".", "./") else ""
            if not name or name in replaced or name in made or name in DROPPED or SKIPPED.match(name):
                continue
            if name.startswith(f"etc/systemd/system/") and name.rsplit("/", 1)[-1] in MASKED:
                continue
            module = MODULE.match(name)
            if module and module.group(1) not in modules:
                continue
            cpio_add_member(cpio, tar, member, name)
        cpio.close()
    partial.rename(output)
    return output


def cpio_add_member(cpio: Cpio, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str):
    perms = member.mode & 0o7777
    owner = dict(uid=member.uid, gid=member.gid, mtime=int(member.mtime))
    if member.isdir():
        cpio.add(name, stat.S_IFDIR | perms, **owner)
    elif member.issym():
        cpio.add(name, stat.S_IFLNK | 0o777, member.linkname.encode(), **owner)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        cpio.add(name, kind | perms, rdev=(member.devmajor, member.devminor), **owner)
    elif member.isfifo():
        cpio.add(name, stat.S_IFIFO | perms, **owner)
    elif member.isreg() or member.islnk():
        data = tar.extractfile(member).read()  # a hard link becomes a copy: the kernel does not mind
        if name == "etc/passwd":
            data = re.sub(rb"^root:.*$", b"root:x:0:0:root:/root:/bin/bootphotoninstaller", data, flags=re.M)
        if name in GETTY_EXEC:
            data = re.sub(rb"^ExecStart=.*$", GETTY_EXEC[name].encode(), data, flags=re.M)
        if name == "etc/shadow":  # Photon: chage -M 99999 root, no password (autologin only)
            data = re.sub(rb"^root:[^:]*:", b"root:*:", data, flags=re.M)
        cpio.add(name, stat.S_IFREG | perms, data, **owner)
