"""A stock-Photon-like boot chain between the kernel and the installer, for fixture initrds.

What a stock Photon installer initrd does after the kernel starts it
(vmware/photon-os-installer photon_installer/generate_initrd.sh at v2.3 and
generate_initrd.py:create_installer_script at v2.7; vmware/photon
support/image-builder/iso/mk-install-iso.sh on 3.0/4.0), reproduced with
busybox and written from that description:

1. /init starts systemd. systemd's getty setup decides which terminals get a
   login: getty@tty1 always (getty.target's default instance), and
   serial-getty@<tty> for every entry of /sys/class/tty/console/active that
   is not a virtual terminal (tty<N>) and opens as a terminal
   (systemd src/getty-generator/getty-generator.c). So ttyS0 gets a getty
   only when it is a kernel console, i.e. the kernel has console=ttyS0.
2. Both gettys log root in without a password (agetty --autologin root);
   root's login shell in /etc/passwd is the launcher /bin/bootphotoninstaller.
3. The launcher reads the WHOLE of /sys/devices/virtual/tty/console/active.
   If it is exactly "tty0" the installer runs on /dev/tty1 only; otherwise
   only on the terminal whose name is that whole string. Every other terminal,
   and every terminal after a failed install, gets a root shell (/bin/bash).
   `console=ttyS0 console=tty0` makes the file read "tty0 ttyS0": no terminal
   matches, nothing installs.
4. The installer is started as
   `photon-installer -i iso -o <options.json> -e EULA.txt -t <license> -v <release>`
   in /installer, followed by `shutdown -r now` when it succeeds.

The kernel is a real one (Debian's), so console/active is the kernel's own.
`stock_initrd()` takes the text of a stand-in photon-installer and any
extra files and returns the gzip'd newc initrd. Markers on the serial port
(the UART, written directly, whatever the consoles are) let a test see what
happened: `BOOTCHAIN-GETTYS: tty1 ttyS0` lists the terminals that got a
login (after `BOOTCHAIN-CONSOLE-ACTIVE:` and what the kernel's file
says), `BOOTCHAIN-ROOT-SHELL: /dev/ttyX` a terminal that ended in a root
shell. `watch_boot()` boots an ISO in qemu and collects them.
"""

import gzip
import io
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

GETTYS_MARKER = "BOOTCHAIN-GETTYS:"
SHELL_MARKER = "BOOTCHAIN-ROOT-SHELL:"
ACTIVE_MARKER = "BOOTCHAIN-CONSOLE-ACTIVE:"
SERIAL = "/dev/ttyS0"

# PID 1: the part of systemd's start-up that decides the gettys.
INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /run /tmp /var/log
terminals="tty1"  # getty@tty1: always
for tty in $(cat /sys/class/tty/console/active); do
    case "$tty" in
        tty[0-9]*) continue ;;  # virtual terminals are not the generator's business
    esac
    # the generator's verify_tty: the device opens and is a terminal
    stty -F "/dev/$tty" >/dev/null 2>&1 || continue
    terminals="$terminals $tty"
done
echo "{ACTIVE_MARKER} $(cat /sys/class/tty/console/active)" > {SERIAL}
echo "{GETTYS_MARKER} $terminals" > {SERIAL}
for tty in $terminals; do
    case "$tty" in
        tty[0-9]*) getty -n -l /sbin/autologin-root 0 "$tty" linux & ;;
        *) getty -n -l /sbin/autologin-root 115200 "$tty" screen & ;;
    esac
done
while true; do wait; sleep 1; done
"""

# agetty --autologin root: /bin/login -f root, which starts root's login shell from /etc/passwd.
AUTOLOGIN = """#!/bin/busybox sh
exec login -f root
"""

PASSWD = "root:x:0:0:root:/root:/bin/bootphotoninstaller\n"
SHADOW = "root:*:19000:0:99999:7:::\n"
GROUP = "root:x:0:\n"

# The launcher's rule, in busybox sh: the whole console/active string decides the terminal.
LAUNCHER = """#!/bin/busybox sh
cd /installer
ACTIVE_CONSOLE="$(cat /sys/devices/virtual/tty/console/active)"
install() {{
    LANG=en_US.UTF-8 photon-installer -i iso -o {options} -e EULA.txt -t "{license}" -v {release} && shutdown -r now
}}
try_run_installer() {{
    if [ "$ACTIVE_CONSOLE" = "tty0" ]; then
        [ "$(tty)" = "/dev/tty1" ] && install
    else
        [ "$(tty)" = "/dev/$ACTIVE_CONSOLE" ] && install
    fi
}}
try_run_installer || exec /bin/bash
"""

# The root shell a terminal ends in; it says so on the serial port first.
ROOT_SHELL = f"""#!/bin/busybox sh
echo "{SHELL_MARKER} $(tty)" > {SERIAL}
exec /bin/busybox sh
"""

SHUTDOWN = """#!/bin/busybox sh
sync
exec reboot -f
"""


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


def stock_initrd(installer_script: str, extra_files=(), *, release: str = "5.0",
                 options_file: str = "build_install_options_all.json") -> bytes:
    """The gzip'd newc initrd: the boot chain above, `installer_script` as /usr/bin/photon-installer.

    `extra_files` are (path, data) or (path, data, mode) tuples, path relative
    to / (e.g. "installer/installer.py"); parent directories are created.
    """
    files = [
        ("init", INIT, 0o755),
        ("sbin/autologin-root", AUTOLOGIN, 0o755),
        ("sbin/shutdown", SHUTDOWN, 0o755),
        ("bin/bootphotoninstaller", LAUNCHER.format(options=options_file, release=release,
                                                    license=f"VMWARE {release} LICENSE AGREEMENT"), 0o755),
        ("bin/bash", ROOT_SHELL, 0o755),
        ("usr/bin/photon-installer", installer_script, 0o755),
        ("etc/passwd", PASSWD, 0o644),
        ("etc/shadow", SHADOW, 0o600),
        ("etc/group", GROUP, 0o644),
        ("installer/EULA.txt", "stand-in EULA\n", 0o644),
    ]
    for item in extra_files:
        name, data, mode = item if len(item) == 3 else (item[0], item[1], 0o644)
        files.append((name, data, mode))
    entries = {}
    for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "root", "etc", "installer"):
        entries[directory] = (directory, stat.S_IFDIR | 0o755, b"", 0, 0)
    # The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    entries["dev/console"] = ("dev/console", stat.S_IFCHR | 0o600, b"", 5, 1)
    entries["bin/busybox"] = ("bin/busybox", stat.S_IFREG | 0o755, Path("/bin/busybox").read_bytes(), 0, 0)
    for name, data, mode in files:
        parts = name.split("/")
        for index in range(1, len(parts)):
            directory = "/".join(parts[:index])
            entries.setdefault(directory, (directory, stat.S_IFDIR | 0o755, b"", 0, 0))
        payload = data.encode() if isinstance(data, str) else data
        entries[name] = (name, stat.S_IFREG | mode, payload, 0, 0)
    ordered = sorted(entries.values(), key=lambda entry: entry[0])
    return gzip.compress(newc_cpio(ordered), mtime=0)


@dataclass
class BootReport:
    """What the serial port showed: the terminals with a getty, those that ended in a root shell, all lines."""

    gettys: list[str] | None = None
    root_shells: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def find(self, marker: str) -> str | None:
        """The text after the first `marker` on the serial port, or None."""
        for line in self.lines:
            if marker in line:
                return line.split(marker, 1)[1].strip()
        return None

    @property
    def stuck(self) -> bool:
        """Every terminal that got a login ended in a root shell: nothing will install."""
        if not self.gettys:
            return False
        return {f"/dev/{tty}" for tty in self.gettys} <= set(self.root_shells)


def _parse(text: str, report: BootReport) -> None:
    report.lines = text.replace("\r", "").splitlines()
    report.root_shells = []
    for line in report.lines:
        if GETTYS_MARKER in line and report.gettys is None:
            report.gettys = line.split(GETTYS_MARKER, 1)[1].split()
        if SHELL_MARKER in line:
            report.root_shells.append(line.split(SHELL_MARKER, 1)[1].strip())


def qemu_command(iso: Path, workdir: Path, *, firmware: str, serial_log: Path) -> list[str]:
    """qemu-system-x86_64 booting `iso` from its CD under SeaBIOS ("bios") or OVMF ("efi"), TCG, no display."""
    command = [
        "qemu-system-x86_64", "-m", "512", "-display", "none", "-no-reboot",
        "-serial", f"file:{serial_log}", "-monitor", "none", "-accel", "tcg",
    ]
    if firmware == "bios":
        return command + ["-machine", "pc", "-cdrom", str(iso), "-boot", "d"]
    variables = workdir / "OVMF_VARS.fd"
    shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", variables)
    return command + [
        "-machine", "q35",
        "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
        "-drive", f"if=pflash,format=raw,unit=1,file={variables}",
        "-cdrom", str(iso),
    ]


def watch_boot(iso: Path, workdir: Path, *, firmware: str, seconds: float, done_marker: str) -> BootReport:
    """Boot `iso` with no key pressed until `done_marker` shows, every terminal is stuck, qemu exits,
    or `seconds` pass; return what the serial port showed."""
    log = workdir / f"serial-{firmware}.log"
    return _watch(qemu_command(iso, workdir, firmware=firmware, serial_log=log), log, seconds, done_marker)


def watch_kernel(kernel: Path, initrd: Path, append: str, workdir: Path, *, seconds: float,
                 done_marker: str) -> BootReport:
    """Boot `kernel` and `initrd` directly (no boot loader) with command line `append`; as watch_boot."""
    log = workdir / "serial-kernel.log"
    command = [
        "qemu-system-x86_64", "-m", "512", "-display", "none", "-no-reboot", "-machine", "pc",
        "-serial", f"file:{log}", "-monitor", "none", "-accel", "tcg",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
    ]
    return _watch(command, log, seconds, done_marker)


def _watch(command: list[str], log: Path, seconds: float, done_marker: str) -> BootReport:
    log.unlink(missing_ok=True)
    report = BootReport()
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < seconds:
            exited = process.poll() is not None
            if log.exists():
                _parse(log.read_text(errors="replace"), report)
                if report.find(done_marker) is not None or report.stuck:
                    break
            if exited:
                break
            time.sleep(0.25)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        report.seconds = time.monotonic() - started
    if log.exists():
        _parse(log.read_text(errors="replace"), report)
    return report


def qemu_available() -> bool:
    return shutil.which("qemu-system-x86_64") is not None and os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd")
