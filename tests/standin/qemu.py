"""Just enough qemu for the stand-in's own test (milestone 2 of issue 15):
start a VM, watch its serial log for a marker or wait for it to power off,
always kill it. builder/vm/ (milestone 1) replaces this; keep it small.
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


@dataclass
class Outcome:
    exited: bool  # the VM powered off (or rebooted: -no-reboot) by itself
    marker: bool  # the marker appeared on the serial port
    seconds: float
    serial: str
    screen: Path | None  # a screendump of the VGA console when neither happened


def boot(workdir: Path, name: str, *, firmware: str, disk: Path, cdrom: Path | None = None,
         boot_cd: bool = False, marker: str | None = None, seconds: float = 600, memory: int = 1024) -> Outcome:
    """Boot under TCG with an IDE disk (/dev/sda) and CD (/dev/sr0), a user-mode NIC, serial to a file."""
    serial = workdir / f"{name}-serial.log"
    monitor = workdir / f"{name}-monitor.sock"
    serial.unlink(missing_ok=True)
    command = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(memory), "-smp", "1", "-no-reboot",
               "-display", "none", "-serial", f"file:{serial}", "-monitor", f"unix:{monitor},server,nowait",
               "-drive", f"file={disk},format=raw,if=ide,index=0",
               "-netdev", "user,id=n0", "-device", "e1000,netdev=n0"]
    if cdrom is not None:
        command += ["-drive", f"file={cdrom},media=cdrom,if=ide,index=2,readonly=on"]
    if firmware == "bios":
        command += ["-machine", "pc", "-boot", "order=dc" if boot_cd else "order=c"]
    else:
        variables = workdir / f"{name}-OVMF_VARS.fd"
        shutil.copy(OVMF_VARS, variables)  # empty NVRAM: no boot entries
        command += ["-machine", "q35",
                    "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={variables}"]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    found, screen = False, None
    try:
        while time.monotonic() - started < seconds and process.poll() is None:
            if marker and serial.exists() and marker in serial.read_text(errors="replace"):
                found = True
                break
            time.sleep(1)
        exited = process.poll() is not None
        if not exited and not found:
            screen = screendump(monitor, workdir / f"{name}-screen.ppm")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    text = serial.read_text(errors="replace") if serial.exists() else ""
    return Outcome(exited and not found, found or bool(marker and marker in text),
                   time.monotonic() - started, text, screen)


def screendump(monitor: Path, target: Path) -> Path | None:
    """What the VGA console shows (the installer runs on tty1), for the failure message."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(monitor))
            sock.sendall(f"screendump {target}\n".encode())
            time.sleep(2)
    except OSError:
        return None
    return target if target.exists() else None
