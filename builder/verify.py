"""`build-appliance verify OVA`: boot the pair in local VMs and check it, check by check.

Two VMs start from copies (qcow2 overlays) of the OVA's system disk, one
with a MASTER and one with a BACKUP OVF environment, each on a CD holding
ovf-env.xml as vSphere's ISO transport delivers it, joined by a private
link (builder/vm/network.py). Both environments carry the hidden property
`appliance.selftest=drill`, so each node's appliance-selftest.service
reports on its serial port (appliance_agent/selftest.py): no SSH, no
password. The drills go to the guests over the serial port too:
`stop-haproxy` on the VIP holder, `reboot` on the MASTER, which then
boots with a broken environment. An OVA that still carries the installer
ISO is installed first, as its VM installs itself in vCenter: the firmware
boots the CD's default entry onto the empty disk.
"""

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from appliance_agent.form import form_for
from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties

from .errors import BuildError, InvalidArtifact, InvalidInput
from .iso.image import write_env_iso
from .ova.archive import read_ova
from .ova.ovf import read_descriptor
from .vm.accel import Accelerator, choose_accelerator
from .vm.host import QEMU_IMG, find_firmware, find_qemu, find_tool
from .vm.machine import Drive, Nic, Vm, VmSpec, terminate_cleanly
from .vm.network import unix_link
from .vm.serial import parse_marker

TAG = "appliance-selftest"
ROLES = ("MASTER", "BACKUP")
BOOT_LIMIT = 900.0  # boot to the self-test's READY, per boot (software emulation is slow)
SETTLE_LIMIT = 120.0  # after both are READY, until exactly one node holds the VIPs
FAILOVER_TARGET = 10.0  # keepalived: HAProxy check every 1 s, fall 2, then VRRP's priority-0 advert
MACS = {"MASTER": "52:54:00:c0:02:11", "BACKUP": "52:54:00:c0:02:12"}
BROKEN_PEER = "203.0.113.9"  # outside the nodes' subnet: the agent must refuse it


@dataclass
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


@dataclass
class NodeReport:
    """What one boot of a node said on its serial port."""
    env: tuple[str, ...] = ()
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (digest, verdict)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)  # unit -> (state, config file)
    vips: tuple[str, ...] = ()
    ready: bool = False
    done: list[str] = field(default_factory=list)
    failed: str | None = None
    powered_on: float = field(default_factory=time.monotonic)
    ready_after: float | None = None  # seconds from power-on to READY: configured, units reported
    guest: dict[str, float] = field(default_factory=dict)  # READY's own figures: uptime, agent (since the kernel started)
    serving_after: float | None = None  # ... to READY with the VIPs held: this node serves them

    def feed(self, line: str):
        """Take one console line; returns the marker's status word when it was one of ours."""
        marker = parse_marker(line, TAG)
        if marker is None:
            return None
        words = marker.words
        since_power_on = time.monotonic() - self.powered_on
        if marker.status == "ENV":
            self.env = words
        elif marker.status == "FILE" and len(words) == 3:
            self.files[words[0]] = (words[1], words[2])
        elif marker.status == "UNIT" and len(words) == 3:
            self.units[words[0]] = (words[1], words[2])
        elif marker.status == "VIPS":
            self.vips = tuple(words[1].split(",")) if words[:1] == ("held",) and len(words) > 1 else ()
        elif marker.status == "READY":
            self.ready = True
            self.ready_after = since_power_on
            self.guest = _figures(words)
        elif marker.status == "DONE":
            self.done.append(" ".join(words))
        elif marker.status == "FAILED":
            self.failed = " ".join(words)
        if self.ready and self.vips and self.serving_after is None:
            self.serving_after = since_power_on
        return marker.status

    def timings(self) -> dict:
        return {"ready_seconds": _rounded(self.ready_after), "serving_seconds": _rounded(self.serving_after),
                "guest_uptime_at_ready_seconds": self.guest.get("uptime"),
                "guest_agent_done_seconds": self.guest.get("agent")}


def _figures(words: tuple[str, ...]) -> dict[str, float]:
    """`uptime 61.2 agent 40.3` -> {"uptime": 61.2, "agent": 40.3}; '-' and junk are left out."""
    figures = {}
    for name, value in zip(words[::2], words[1::2]):
        try:
            figures[name] = float(value)
        except ValueError:
            pass
    return figures


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


# ---------------------------------------------------------------- judging the reports

def check_applied(role: str, report: NodeReport) -> Check:
    name = f"agent applied the {role} node"
    if not report.ready:
        return Check(name, False, "no self-test report (the node did not finish booting)")
    if report.env[:1] != ("ok",):
        return Check(name, False, "the environment was refused: " + " ".join(report.env[1:]))
    wrong = sorted(path for path, (_digest, verdict) in report.files.items() if verdict != "rendered")
    if not report.files or wrong:
        return Check(name, False, "files not as rendered from the environment: " + (", ".join(wrong) or "none reported"))
    return Check(name, True, f"{len(report.files)} files as rendered from its environment, "
                             f"{report.ready_after:.0f} s after power-on")


def check_units(role: str, report: NodeReport, rendered: dict[str, str]) -> Check:
    """`rendered`: unit -> the rendered config file it must run from."""
    name = f"HAProxy and keepalived run under systemd on the {role} node"
    problems = []
    for unit, config in rendered.items():
        state, running = report.units.get(unit, ("not reported", "-"))
        if state != "active":
            problems.append(f"{unit} is {state}")
        elif running != config:
            problems.append(f"{unit} runs {running}, not {config}")
        elif report.files.get(config, ("", ""))[1] != "rendered":
            problems.append(f"{config} is not the rendered file")
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, ", ".join(f"{unit} active from {config}" for unit, config in rendered.items()))


def check_one_holder(reports: dict[str, NodeReport], vips: tuple[str, ...]) -> Check:
    name = "exactly one node holds the VIPs"
    holders = [role for role, report in reports.items() if report.vips]
    if len(holders) == 1 and set(reports[holders[0]].vips) == set(vips):
        serving = reports[holders[0]].serving_after
        since = "" if serving is None else f", serving {serving:.0f} s after power-on"
        return Check(name, True, f"{holders[0]} holds {', '.join(vips)}{since}")
    held = "; ".join(f"{role}: {', '.join(report.vips) or 'none'}" for role, report in reports.items())
    return Check(name, False, f"expected one node with {', '.join(vips)}, found {held}")


def holder(reports: dict[str, NodeReport]) -> str | None:
    holders = [role for role, report in reports.items() if report.vips]
    return holders[0] if len(holders) == 1 else None


# ---------------------------------------------------------------- environments

def environments(profile, descriptor_keys: list[str], selftest: str = "drill") -> dict[str, bytes]:
    """MASTER, BACKUP and a broken MASTER environment (documentation addresses only)."""
    known = [prop.key for prop in form_for(profile)]
    if sorted(descriptor_keys) != sorted(known):
        missing = sorted(set(known) ^ set(descriptor_keys))
        raise InvalidInput(f"the OVA's properties differ from this profile's ({', '.join(missing[:3])}): "
                           "pass the profile it was built with, --profile FILE")
    documents = {}
    for role in ROLES:
        values = sample_properties(profile, role)
        values["appliance.selftest"] = selftest
        documents[role] = build_environment(values, vcenter_id=f"vm-{role.lower()}")
    broken = sample_properties(profile, "MASTER")
    broken.update({"appliance.selftest": selftest, "ha.peer_ip": BROKEN_PEER})
    documents["MASTER-broken"] = build_environment(broken, vcenter_id="vm-master")
    return documents


# ---------------------------------------------------------------- the run

@dataclass
class VerifyResult:
    checks: list[Check]
    accelerator: Accelerator
    seconds: float
    logs: Path
    timings: dict[str, dict] = field(default_factory=dict)  # role -> NodeReport.timings() of its first boot

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def record(self) -> dict:
        return {"passed": self.passed, "accelerator": self.accelerator.name, "seconds": round(self.seconds, 1),
                "first_boot": self.timings,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks]}


def verify(ova: Path, profile, *, logs: Path, firmware: str | None = None, memory_mib: int = 1024,
           boot_limit: float = BOOT_LIMIT, failover_target: float = FAILOVER_TARGET,
           install_time_limit: float = 3600.0, log: Callable[[str], None] = lambda _line: None,
           progress=None) -> VerifyResult:
    qemu = find_qemu("verify")
    qemu_img = find_tool(QEMU_IMG, "verify")
    contents = read_ova(ova)
    summary = read_descriptor(contents.descriptor)
    firmware = firmware or summary.hardware.get("firmware") or "efi"
    found_firmware = find_firmware(firmware, "verify")
    documents = environments(profile, [item["key"] for item in summary.properties])
    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with terminate_cleanly(), tempfile.TemporaryDirectory(prefix="verify-") as workdir:
        work = Path(workdir)
        base = _system_disk(ova, contents, work, qemu_img, firmware, logs, install_time_limit, log, progress)
        accelerator = choose_accelerator(qemu=qemu)
        log(f"verify: {accelerator.describe()}")
        disks = {}
        for role in ROLES:
            disks[role] = work / f"{role.lower()}.qcow2"
            _run([qemu_img, "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(disks[role])])
        cds = {}
        for name, document in documents.items():
            cds[name] = work / f"env-{name.lower()}.iso"
            write_env_iso(cds[name], document)
        link = unix_link(work)
        ends = {"MASTER": link.a, "BACKUP": link.b}

        def spec(role, cd):
            return VmSpec(f"verify-{role.lower()}", found_firmware, memory_mib=memory_mib, cpus=1,
                          drives=(Drive(disks[role], "disk", format="qcow2", boot=True), Drive(cd, "cdrom")),
                          nics=(Nic(ends[role], MACS[role], model="vmxnet3"),), serial_input=True)

        checks, timings = _run_pair(spec, cds, logs, accelerator, qemu, boot_limit, failover_target, profile, log)
    return VerifyResult(checks, accelerator, time.monotonic() - started, logs, timings)


def _run_pair(spec, cds, logs, accelerator, qemu, boot_limit, failover_target, profile, log):
    """The checks, and each node's first-boot timings."""
    from appliance_agent.settings import validate
    from appliance_agent.ovfenv import parse_environment

    checks: list[Check] = []
    reports = {role: NodeReport() for role in ROLES}
    settings = validate(parse_environment(build_environment(sample_properties(profile, "MASTER"))), profile)
    vips = tuple(str(vip) for vip in settings.vips)
    rendered = {"haproxy.service": "/etc/haproxy/haproxy.cfg", "keepalived.service": "/etc/keepalived/keepalived.conf"}
    consoles = {role: logs / f"{role.lower()}-console.log" for role in ROLES}
    vms = {role: Vm(spec(role, cds[role]), console=consoles[role], accel=accelerator.name, qemu=qemu)
           for role in ROLES}
    timings = {}
    try:
        for role, vm in vms.items():
            vm.start()
            reports[role].powered_on = time.monotonic()
        log("verify: booting MASTER and BACKUP")
        _until(vms, reports, lambda: all(report.ready for report in reports.values()), boot_limit)
        for role in ROLES:
            checks.append(check_applied(role, reports[role]))
            checks.append(check_units(role, reports[role], rendered))
        _until(vms, reports, lambda: holder(reports) is not None and set(reports[holder(reports)].vips) == set(vips),
               SETTLE_LIMIT, quiet=True)
        one = check_one_holder(reports, vips)
        checks.append(one)
        timings = _timings(reports)  # before the drills move the VIPs
        checks.append(_failover(vms, reports, vips, failover_target, log, checks))
        checks.append(_broken_reboot(vms, spec, cds, consoles["MASTER"], reports, accelerator, qemu, boot_limit, log,
                                     checks))
    except _Stopped as stopped:
        checks.append(Check(stopped.check, False, stopped.reason))
    finally:
        for vm in vms.values():
            vm.stop()
    for role, console in consoles.items():
        log(f"verify: {role} console log {console}")
    return checks, timings or _timings(reports)


def _timings(reports: dict[str, NodeReport]) -> dict[str, dict]:
    return {role: report.timings() for role, report in reports.items()}


class _Stopped(Exception):
    def __init__(self, check: str, reason: str):
        super().__init__(reason)
        self.check, self.reason = check, reason


def _until(vms, reports, condition, limit, quiet=False) -> bool:
    deadline = time.monotonic() + limit
    while True:
        for role, vm in vms.items():
            exited = vm.wait(reports[role].feed, 0, poll=0)
            while exited.reason == "marker":
                exited = vm.wait(reports[role].feed, 0, poll=0)
            if exited.reason == "exited" and not reports[role].ready and not quiet:
                raise _Stopped(f"the {role} node boots", f"its VM stopped (qemu exit status {exited.returncode}) "
                                                         "before the self-test report")
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.3)


def _applied(checks: list[Check], role: str) -> bool:
    return any(check.passed for check in checks if check.name == f"agent applied the {role} node")


def _failover(vms, reports, vips, target, log, checks) -> Check:
    name = "failover when HAProxy stops on the holder"
    first = holder(reports)
    if first is None or not set(reports[first].vips) == set(vips):
        return Check(name, False, "not tried: no single VIP holder")
    peer = next(role for role in ROLES if role != first)
    if not _applied(checks, peer):
        return Check(name, False, f"not tried: the {peer} node was not applied, so nothing can take the VIPs")
    log(f"verify: stopping HAProxy on {first}")
    vms[first].send_serial("stop-haproxy\n")
    sent = time.monotonic()
    moved = _until(vms, reports, lambda: set(reports[peer].vips) == set(vips) and not reports[first].vips,
                   max(target * 3, 60), quiet=True)
    seconds = time.monotonic() - sent
    if not moved:
        return Check(name, False, f"{peer} did not take {', '.join(vips)} within {max(target * 3, 60):.0f} s "
                                  f"(now {first}: {', '.join(reports[first].vips) or 'none'}, "
                                  f"{peer}: {', '.join(reports[peer].vips) or 'none'})")
    return Check(name, seconds <= target, f"{peer} took the VIPs {seconds:.1f} s after HAProxy stopped on {first} "
                                          f"(target {target:.0f} s)")


def _broken_reboot(vms, spec, cds, console, reports, accelerator, qemu, boot_limit, log, checks) -> Check:
    name = "a broken environment on reboot keeps the last good configuration and says why"
    if not _applied(checks, "MASTER"):
        return Check(name, False, "not tried: the MASTER node was not applied, so it has no good configuration to keep")
    before = dict(reports["MASTER"].files)
    log("verify: rebooting MASTER with a broken environment")
    vms["MASTER"].send_serial("reboot\n")
    ended = vms["MASTER"].wait(None, 300)
    if ended.reason != "exited":
        return Check(name, False, "the MASTER did not reboot within 300 s of being asked")
    vms["MASTER"].stop()
    second = console.with_name("master-broken-console.log")
    vms["MASTER"] = Vm(spec("MASTER", cds["MASTER-broken"]), console=second, accel=accelerator.name, qemu=qemu)
    vms["MASTER"].start()
    reports["MASTER"] = report = NodeReport()
    _until(vms, reports, lambda: report.ready and bool(report.units), boot_limit, quiet=True)
    if not report.ready:
        return Check(name, False, f"no self-test report after the reboot (console log {second})")
    if report.env[:1] != ("invalid",):
        return Check(name, False, "the agent did not refuse the broken environment (ha.peer_ip outside the subnet)")
    changed = sorted(path for path, (digest, _verdict) in report.files.items()
                     if path in before and before[path][0] != digest)
    if changed:
        return Check(name, False, "files changed although the environment was refused: " + ", ".join(changed))
    down = sorted(unit for unit, (state, _config) in report.units.items() if state != "active")
    if down:
        return Check(name, False, "after the refusal not running: " + ", ".join(down))
    return Check(name, True, "refused (" + " ".join(report.env[1:]) + "); configuration unchanged, HAProxy and "
                             "keepalived running")


# ---------------------------------------------------------------- the disk

def _system_disk(ova, contents, work, qemu_img, firmware, logs, install_time_limit, log, progress) -> Path:
    """A qcow2 of the OVA's installed system; an ISO-carrying OVA is installed first."""
    disk = next((member for member in contents.members if member.name.endswith(".vmdk")), None)
    iso = next((member for member in contents.members if member.name.endswith(".iso")), None)
    if disk is None:
        raise InvalidArtifact(f"{ova.name}: no .vmdk system disk in the OVA")
    base = work / "system.qcow2"
    if iso is None:
        vmdk = _extract(ova, disk, work / "disk.vmdk")
        _run([qemu_img, "convert", "-O", "qcow2", str(vmdk), str(base)])
        vmdk.unlink()
        return base
    from .preinstall import install
    from .ova.vmdk import read_vmdk_info

    log("verify: the OVA carries the installer ISO; installing it first")
    iso_path = _extract(ova, iso, work / "installer.iso")
    with open(ova, "rb") as raw:
        raw.seek(disk.offset)
        capacity = read_vmdk_info(_Window(raw, disk.offset, disk.size)).capacity_bytes
    raw_disk = work / "installed.raw"
    install(iso_path, raw_disk, capacity=capacity, firmware=firmware, console_log=logs / "install-console.log",
            time_limit=install_time_limit, progress=progress, log=log, generalized=False, from_cd=True)
    iso_path.unlink()
    _run([qemu_img, "convert", "-f", "raw", "-O", "qcow2", str(raw_disk), str(base)])
    raw_disk.unlink()
    return base


class _Window:
    """A member of the OVA as a file of its own (read/seek/tell)."""

    def __init__(self, raw, offset, size):
        self.raw, self.offset, self.size, self.position = raw, offset, size, 0

    def read(self, count=-1):
        count = self.size - self.position if count < 0 else min(count, self.size - self.position)
        self.raw.seek(self.offset + self.position)
        data = self.raw.read(count)
        self.position += len(data)
        return data

    def seek(self, position, whence=0):
        self.position = position if whence == 0 else self.position + position if whence == 1 else self.size + position
        return self.position

    def tell(self):
        return self.position


def _extract(ova: Path, member, target: Path) -> Path:
    with open(ova, "rb") as raw, open(target, "wb") as out:
        raw.seek(member.offset)
        remaining = member.size
        while remaining:
            chunk = raw.read(min(remaining, 1 << 22))
            if not chunk:
                raise InvalidArtifact(f"{ova.name}: {member.name} is truncated")
            out.write(chunk)
            remaining -= len(chunk)
    return target


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{Path(command[0]).name} {command[1]} failed: {last}")
