"""One qemu VM: its specification, its command line, and a runner that always cleans up.

The runner starts qemu in its own process group (and asks the kernel to
kill it should the builder itself die), writes the serial console to a
file the caller keeps, and on leaving its `with` block, by return,
exception or Ctrl-C, kills the group and removes its private files (NVRAM
copy, sockets, disk overlays).
"""

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .host import Firmware
from .network import LinkEnd
from .serial import ConsoleFollower

DISK_BUSES = ("sata", "pvscsi")


@dataclass(frozen=True)
class Drive:
    path: Path
    media: str = "disk"  # "disk" or "cdrom"
    format: str = "raw"
    boot: bool = False  # first in the boot order
    readonly: bool = False


@dataclass(frozen=True)
class Nic:
    """A network adapter on a private link, or on qemu's user-mode network when `link` is None."""
    link: LinkEnd | None
    mac: str
    model: str = "virtio-net-pci"


@dataclass(frozen=True)
class DirectKernel:
    """Boot a kernel directly (tests, the KVM probe) instead of through the firmware."""
    kernel: Path
    initrd: Path | None = None
    append: str = "console=ttyS0"


@dataclass(frozen=True)
class VmSpec:
    name: str
    firmware: Firmware
    memory_mib: int = 512
    cpus: int = 1
    drives: tuple[Drive, ...] = ()
    nics: tuple[Nic, ...] = ()
    direct: DirectKernel | None = None
    disk_bus: str = "sata"
    no_reboot: bool = True  # a guest's reboot ends the VM (the installer reboots when it is done)
    serial_input: bool = False  # the host can also write to the serial port (Vm.send_serial)
    extra: tuple[str, ...] = ()


def qemu_command(spec: VmSpec, *, qemu: Path | str, accel: str, console: Path, nvram: Path | None = None,
                 qmp: Path | None = None, dgram: bool = True, serial_socket: Path | None = None) -> list[str]:
    """The full qemu command line. `nvram` is this VM's private copy of the OVMF variables.

    With `serial_socket` the serial port is a Unix socket the host may write to, its output
    still logged to `console` whether or not anyone is connected.
    """
    if spec.disk_bus not in DISK_BUSES:
        raise ValueError(f"disk bus {spec.disk_bus!r}: one of {', '.join(DISK_BUSES)}")
    command = [
        str(qemu), "-name", spec.name, "-machine", "q35", "-accel", accel,
        "-cpu", "host" if accel == "kvm" else "max",
        "-m", str(spec.memory_mib), "-smp", str(spec.cpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
        "-monitor", "none",
    ]
    if serial_socket is not None:
        command += ["-chardev", f"socket,id=serial0,path={serial_socket},server=on,wait=off,logfile={console}",
                    "-serial", "chardev:serial0"]
    else:
        command += ["-serial", f"file:{console}"]
    if qmp is not None:
        command += ["-qmp", f"unix:{qmp},server=on,wait=off"]
    if spec.no_reboot:
        command.append("-no-reboot")
    if spec.firmware.kind == "efi":
        if nvram is None:
            raise ValueError("an EFI VM needs its private NVRAM copy")
        command += [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={spec.firmware.code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={nvram}",
        ]
    if spec.direct is not None:
        command += ["-kernel", str(spec.direct.kernel), "-append", spec.direct.append]
        if spec.direct.initrd is not None:
            command += ["-initrd", str(spec.direct.initrd)]
    command += _drive_args(spec)
    for index, nic in enumerate(spec.nics):
        netdev = f"net{index}"
        if nic.link is None:
            # user-mode networking, isolated from the host's network
            command += ["-netdev", f"user,id={netdev},restrict=on"]
        else:
            command += ["-netdev", nic.link.netdev(netdev, dgram=dgram)]
        command += ["-device", f"{nic.model},netdev={netdev},mac={nic.mac}"]
    return command + list(spec.extra)


def _drive_args(spec: VmSpec) -> list[str]:
    args = []
    if spec.disk_bus == "pvscsi" and any(drive.media == "disk" for drive in spec.drives):
        args += ["-device", "pvscsi,id=scsi0"]
    # q35's AHCI controller has six ports: ide.0 .. ide.5
    ports = iter(range(6))
    for index, drive in enumerate(spec.drives):
        drive_id = f"drive{index}"
        options = f"file={drive.path},format={drive.format},if=none,id={drive_id}"
        if drive.media == "cdrom":
            options += ",media=cdrom,readonly=on"
        elif drive.readonly:
            options += ",readonly=on"
        args += ["-drive", options]
        boot = ",bootindex=0" if drive.boot else ""
        if drive.media == "cdrom":
            args += ["-device", f"ide-cd,drive={drive_id},bus=ide.{next(ports)}{boot}"]
        elif spec.disk_bus == "pvscsi":
            args += ["-device", f"scsi-hd,drive={drive_id},bus=scsi0.0{boot}"]
        else:
            args += ["-device", f"ide-hd,drive={drive_id},bus=ide.{next(ports)}{boot}"]
    return args


@dataclass
class Outcome:
    """How waiting ended: "marker" (the matcher returned something), "exited" or "timeout"."""
    reason: str
    seconds: float
    value: object = None
    line: str | None = None
    returncode: int | None = None


def _die_with_parent():
    # PR_SET_PDEATHSIG: qemu gets SIGKILL if the builder is killed before it can clean up
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class Vm:
    """A running VM; use as a context manager so it is always stopped and cleaned up."""

    def __init__(self, spec: VmSpec, *, console: Path, accel: str, qemu: Path | str = "qemu-system-x86_64",
                 dgram: bool = True, qmp: bool = False):
        self.spec = spec
        self.console = Path(console)
        self.accel = accel
        self.qemu = qemu
        self.dgram = dgram
        self.use_qmp = qmp
        self.process: subprocess.Popen | None = None
        self.private: Path | None = None
        self.started = 0.0
        self.follower = ConsoleFollower(self.console)
        self.unread: list[str] = []  # console lines read but not yet given to a matcher
        self.stderr_path: Path | None = None

    # -- lifecycle

    def start(self) -> "Vm":
        self.private = Path(tempfile.mkdtemp(prefix=f"vm-{self.spec.name}-"))
        try:
            nvram = None
            if self.spec.firmware.kind == "efi":
                nvram = self.private / "OVMF_VARS.fd"
                shutil.copyfile(self.spec.firmware.vars_template, nvram)
            self.console.parent.mkdir(parents=True, exist_ok=True)
            self.console.write_bytes(b"")
            qmp = self.private / "qmp.sock" if self.use_qmp else None
            serial = self.private / "serial.sock" if self.spec.serial_input else None
            command = qemu_command(self.spec, qemu=self.qemu, accel=self.accel, console=self.console,
                                   nvram=nvram, qmp=qmp, dgram=self.dgram, serial_socket=serial)
            self.stderr_path = self.private / "qemu.stderr"
            with open(self.stderr_path, "wb") as stderr:
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=stderr, start_new_session=True,
                                                preexec_fn=_die_with_parent)
            self.started = time.monotonic()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """Kill the VM's process group (if still running) and remove its private files; idempotent."""
        returncode = None
        if self.process is not None:
            if self.process.poll() is None:
                _kill_group(self.process)
            returncode = self.process.returncode
        if self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)
            self.private = None
        return returncode

    def __enter__(self) -> "Vm":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- observing

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def wait(self, matcher: Callable[[str], object] | None, timeout: float, *,
             on_line: Callable[[str], None] | None = None, poll: float = 0.2) -> Outcome:
        """Read the console until `matcher(line)` returns a value, qemu exits, or `timeout` seconds pass.

        Lines already read by an earlier wait are not seen again.
        """
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process.poll() is not None
            self.unread.extend(self.follower.rest() if exited else self.follower.new_lines())
            while self.unread:
                line = self.unread.pop(0)
                if on_line is not None:
                    on_line(line)
                if matcher is not None:
                    value = matcher(line)
                    if value is not None:  # the lines after it wait for the next call
                        return Outcome("marker", self.elapsed(), value, line, self.process.returncode)
            if exited:
                return Outcome("exited", self.elapsed(), returncode=self.process.returncode)
            if time.monotonic() >= deadline:
                return Outcome("timeout", self.elapsed())
            time.sleep(poll)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def send_serial(self, text: str, timeout: float = 10) -> None:
        """Write `text` to the guest's serial port (a VM started with serial_input)."""
        if not self.spec.serial_input or self.private is None:
            raise RuntimeError("this VM's serial port takes no input")
        path = self.private / "serial.sock"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                    connection.settimeout(timeout)
                    connection.connect(str(path))
                    _trickle(connection, text.encode())
                    return
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    # -- control (QMP), for ejecting media, resets and ACPI power button

    def qmp(self, command: str, **arguments) -> dict:
        if not self.use_qmp or self.private is None:
            raise RuntimeError("this VM was started without QMP")
        return qmp_command(self.private / "qmp.sock", command, arguments)


def _trickle(connection: socket.socket, data: bytes, chunk: int = 4, pause: float = 0.05) -> None:
    """Send a few bytes at a time and stay connected a moment: qemu takes from the socket only
    what the UART's FIFO has room for, and drops the rest when the client goes away."""
    connection.setblocking(False)
    for start in range(0, len(data), chunk):
        piece = data[start:start + chunk]
        while piece:
            try:
                piece = piece[connection.send(piece):]
            except BlockingIOError:
                pass
            _drain(connection)
            time.sleep(pause)
    for _ in range(20):  # what the guest prints meanwhile comes to us too: read and drop it
        _drain(connection)
        time.sleep(pause)


def _drain(connection: socket.socket) -> None:
    try:
        while connection.recv(65536):
            pass
    except (BlockingIOError, InterruptedError):
        pass


@contextlib.contextmanager
def terminate_cleanly():
    """SIGTERM raises SystemExit(143) meanwhile, so `with Vm(...)` blocks and temporary directories
    are cleaned up as on Ctrl-C (SIGKILL still leaves no qemu behind: PR_SET_PDEATHSIG)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum, _frame):
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    except ProcessLookupError:
        process.wait(timeout=10)


def qmp_command(path: Path, command: str, arguments: dict | None = None, timeout: float = 10) -> dict:
    """One QMP command on a fresh connection: greeting, capabilities, the command, its reply."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(timeout)
            connection.connect(str(path))
            break
        except (FileNotFoundError, ConnectionRefusedError):
            connection.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    with connection, connection.makefile("rw", encoding="utf-8") as stream:
        def reply():
            while True:
                message = json.loads(stream.readline() or "{}")
                if "event" not in message:  # events may arrive between replies
                    return message

        reply()  # the greeting
        for request in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": arguments or {}}):
            stream.write(json.dumps(request) + "\n")
            stream.flush()
            answer = reply()
            if "error" in answer:
                raise RuntimeError(f"QMP {request['execute']}: {answer['error'].get('desc', answer['error'])}")
        return answer.get("return", {})
