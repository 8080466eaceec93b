"""--preinstall: install the remastered ISO onto a virtual disk in a local VM, at build time.

The VM boots the ISO's installer (builder/vm/installer.py) with an empty
raw disk of the profile's size. The kickstart's postinstall prints, on the
serial port, the install's marker (`appliance-install: OK <name>
<version>` or `FAILED <what>`), then generalizes the system for cloning
and reports it (`appliance-generalize: PACKAGE <name> <version>` per
installed package, then `appliance-generalize: OK` or `FAILED <what>`);
the installer then reboots, which ends the VM (-no-reboot). Anything else,
a FAILED marker, a VM that stops early, or no end within the time limit,
stops the build with the reason and the path of the console log, which is
kept in --out.
"""

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import BuildError
from .vm.accel import Accelerator, choose_accelerator
from .vm.host import find_firmware, find_qemu
from .vm.installer import installer_boot
from .vm.machine import Drive, Vm, VmSpec, terminate_cleanly
from .vm.serial import parse_marker, tail

INSTALL_TAG = "appliance-install"
GENERALIZE_TAG = "appliance-generalize"
DEFAULT_TIME_LIMIT = 3600.0  # a full Photon install under TCG takes 10-30 minutes on two cores
AFTER_MARKER_LIMIT = 300.0  # from the install's OK to the VM's reboot
INSTALL_MEMORY_MIB = 2048  # Photon's installer unpacks into a RAM disk


class InstallFailed(BuildError):
    """The build-time install failed, hung or could not start."""


@dataclass
class InstallResult:
    appliance: tuple[str, ...] = ()  # the OK marker's words: name, version
    packages: list[dict] = field(default_factory=list)
    accelerator: Accelerator | None = None
    firmware: str = ""
    seconds: float = 0.0
    console_log: Path | None = None

    def record(self) -> dict:
        """For build-info.json."""
        return {
            "accelerator": self.accelerator.name,
            "accelerator_reason": self.accelerator.reason,
            "firmware": self.firmware,
            "seconds": round(self.seconds, 1),
            "appliance": " ".join(self.appliance),
            "packages": self.packages,
        }


class InstallWatch:
    """Follows the console's markers; `done` once the install and the generalization reported."""

    def __init__(self):
        self.installed: tuple[str, ...] | None = None
        self.generalized = False
        self.packages: list[dict] = []
        self.failure: str | None = None

    def __call__(self, line: str):
        install = parse_marker(line, INSTALL_TAG)
        if install is not None:
            if install.status == "OK":
                self.installed = install.words
            elif install.status == "FAILED":
                self.failure = "the install failed: " + (" ".join(install.words) or "no reason given")
                return "failed"
            return None
        general = parse_marker(line, GENERALIZE_TAG)
        if general is None:
            return None
        if general.status == "PACKAGE" and len(general.words) == 2:
            # the installer's own log may repeat the postinstall's lines on the console
            entry = {"name": general.words[0], "version": general.words[1]}
            if entry not in self.packages:
                self.packages.append(entry)
        elif general.status == "OK":
            self.generalized = True
            return "generalized"
        elif general.status == "FAILED":
            self.failure = "generalizing the installed system failed: " + (" ".join(general.words) or "no reason")
            return "failed"
        return None


def install(iso: Path, disk: Path, *, capacity: int, firmware: str, console_log: Path,
            time_limit: float = DEFAULT_TIME_LIMIT, memory_mib: int = INSTALL_MEMORY_MIB, cpus: int = 2,
            accelerator: Accelerator | None = None, progress: Callable[[str, int, int], None] | None = None,
            log: Callable[[str], None] = lambda _line: None, generalized: bool = True,
            from_cd: bool = False) -> InstallResult:
    """Install `iso` onto a new raw `disk` of `capacity` bytes; raises InstallFailed with the reason.

    `generalized` False: the ISO's kickstart does not generalize (an ISO-carrying OVA being
    verified), so the install's OK and the installer's reboot are the end. `from_cd`: the
    firmware boots the CD and its default entry, as the VM of an ISO-carrying OVA does at its
    first power-on (the installer on tty1; only the postinstall's lines reach the serial port).
    """
    qemu = find_qemu("--preinstall")
    found_firmware = find_firmware(firmware, "--preinstall")
    with terminate_cleanly(), tempfile.TemporaryDirectory(prefix="preinstall-") as workdir:
        boot = installer_boot(iso, Path(workdir))
        accelerator = accelerator or choose_accelerator(boot.kernel, qemu=qemu)
        log(f"install: {accelerator.describe()}")
        with open(disk, "wb") as raw:
            raw.truncate(capacity)
        if from_cd:
            spec = VmSpec("install-from-cd", found_firmware, memory_mib=memory_mib, cpus=cpus,
                          drives=(Drive(disk, "disk"), Drive(iso, "cdrom", boot=True)))
        else:
            spec = VmSpec("preinstall", found_firmware, memory_mib=memory_mib, cpus=cpus, direct=boot,
                          drives=(Drive(disk, "disk"), Drive(iso, "cdrom")))
        result = InstallResult(accelerator=accelerator, firmware=firmware, console_log=console_log)
        watch = InstallWatch()
        started = time.monotonic()
        with Vm(spec, console=console_log, accel=accelerator.name, qemu=qemu) as vm:
            _watch(vm, watch, time_limit, console_log, progress, disk, generalized)
        result.seconds = time.monotonic() - started
    result.appliance = watch.installed
    result.packages = sorted(watch.packages, key=lambda package: package["name"])
    log(f"install: {' '.join(watch.installed)} installed{' and generalized' if generalized else ''} in {result.seconds:.0f} s "
        f"({len(result.packages)} packages); console log {console_log}")
    return result


def _watch(vm: Vm, watch: InstallWatch, time_limit: float, console_log: Path, progress, disk: Path,
           generalized: bool = True) -> None:
    deadline = time.monotonic() + time_limit

    def tick(_line=None):
        if progress is not None:
            progress("install (time limit)", int(min(vm.elapsed(), time_limit)), int(time_limit))

    while True:
        remaining = deadline - time.monotonic()
        outcome = vm.wait(watch, min(remaining, 5.0), on_line=tick)
        tick()
        if outcome.reason == "marker" and outcome.value == "failed":
            _fail(watch.failure, console_log)
        if outcome.reason == "marker" and outcome.value == "generalized":
            break
        if not generalized and watch.installed is not None:
            break
        if outcome.reason == "exited":
            if watch.installed is None:
                _fail(f"the VM stopped (qemu exit status {outcome.returncode}) before the install reported "
                      f"success; {_last_words(vm)}", console_log)
            _fail("the VM stopped after the install without generalizing the system", console_log)
        if outcome.reason == "timeout" and time.monotonic() >= deadline:
            where = "after the install's OK" if watch.installed else "before the install reported"
            _fail(f"the install did not finish within the time limit of {time_limit:.0f} s ({where}; "
                  f"{_allocated(disk)} written to the disk)", console_log)
    # the installer reboots after the postinstall: wait for it, so the disk is complete
    ended = vm.wait(None, AFTER_MARKER_LIMIT)
    if ended.reason != "exited":
        _fail(f"the VM did not reboot within {AFTER_MARKER_LIMIT:.0f} s of the install's end", console_log)


def _last_words(vm: Vm) -> str:
    stderr = vm.stderr().strip().splitlines()
    return f"qemu said: {stderr[-1]}" if stderr else "see the console log"


def _allocated(disk: Path) -> str:
    try:
        return f"{os.stat(disk).st_blocks * 512 / 2**20:.0f} MiB"
    except OSError:
        return "nothing"


def _fail(reason: str, console_log: Path) -> None:
    lines = [reason, f"console log of the install VM: {console_log}"]
    last = tail(console_log, 5)
    if last:
        lines.append("last console lines: " + " | ".join(last))
    raise InstallFailed("\n".join(lines))


GENERALIZE_FLAG = "APPLIANCE_GENERALIZE=yes"


def generalizing(kickstart: dict) -> dict:
    """The kickstart whose postinstall generalizes the system (the flag goes right after the #! line)."""
    lines = list(kickstart["postinstall"])
    at = 1 if lines and lines[0].startswith("#!") else 0
    return {**kickstart, "postinstall": lines[:at] + [GENERALIZE_FLAG] + lines[at:]}


def console_log_path(out_dir: Path, base_name: str) -> Path:
    return Path(out_dir) / f"{base_name}-install-console.log"


def install_stage(ctx) -> None:
    """The build's stage: install the written ISO, then write the OVA around the installed disk."""
    from .ova.stage import write_installed_ova

    config = ctx.config
    if ctx.iso_digest is not None:  # the ISO's SHA-256, still computed on the other core
        ctx.iso_sha256 = ctx.outputs["iso"]["sha256"] = ctx.iso_digest()
    if config.formats == "ova":
        ctx.outputs.pop("iso", None)  # installed from, not published
    disk = config.out_dir / f".{config.base_name}-disk.raw.partial"
    ctx.partials.append(disk)
    console = console_log_path(config.out_dir, config.base_name)
    started = time.monotonic()
    result = install(ctx.iso_written, disk, capacity=ctx.vm.disk_bytes, firmware=ctx.vm.firmware,
                     console_log=console, time_limit=config.install_time_limit,
                     memory_mib=ctx.vm.memory_mb, cpus=min(ctx.vm.cpus, 2),
                     progress=ctx.progress, log=ctx.log)
    ctx.install = {**result.record(), "installer": ctx.detected.installer, "console_log": console.name}
    write_installed_ova(ctx, disk)
    ctx.install["seconds_with_disk_conversion"] = round(time.monotonic() - started, 1)
