"""`appliance-agent selftest`: report this node's state on the serial port, for `build-appliance verify`.

Runs only when the OVF environment carries the hidden property
`appliance.selftest` (userConfigurable false: vCenter's form never shows
it); without it the command exits at once, so it is harmless in
production. It reads nothing secret and prints no secret: file digests,
unit states, addresses. Every line is a marker `appliance-selftest: WORD
...` on the serial port (and the journal), which the build reads from the
VM's console log: no SSH, no password, nothing baked into the image.

    ENV ok | ENV invalid <first problem>     the environment as the agent's parser sees it
    FILE <path> <sha256> rendered|differs|missing   the agent's files against a fresh render
    UNIT <unit> <ActiveState> <config file its main process runs>
    VIPS held <a,b> | VIPS none              now, then on every change while watching
    READY uptime <s> agent <s>               the report is complete; seconds since the kernel
                                             started, now and when the agent's run ended ('-': unknown)
    DONE <command>                           a drill command was carried out

With the value `drill` the node then listens on the serial port for one
command per line, `stop-haproxy` or `reboot` (the build's failover and
reboot drills), for at most an hour, reporting VIP changes meanwhile.
"""

import hashlib
import os
import subprocess
import sys
import time

from . import pipeline, render, status
from .errors import AgentError, ValidationError
from .ovfenv import parse_environment
from .settings import validate

PROPERTY = "appliance.selftest"
SERIAL = "/dev/ttyS0"
CHECKED_UNITS = ("haproxy.service", "keepalived.service")
CONFIG_OF = {"haproxy.service": "/etc/haproxy/haproxy.cfg", "keepalived.service": "/etc/keepalived/keepalived.conf"}
SETTLE_SECONDS = 120  # units still starting after boot
WATCH_SECONDS = 3600
COMMANDS = ("stop-haproxy", "reboot")


class Reporter:
    def __init__(self, serial=SERIAL):
        self.path = serial
        self.serial = self._open()

    def _open(self):
        try:
            return open(self.path, "w")
        except OSError:
            return None

    def __call__(self, *words):
        line = "appliance-selftest: " + " ".join(str(word) for word in words)
        print(line, flush=True)
        for _attempt in (1, 2):  # a terminal hung up under us (a getty leaving) is opened again
            if self.serial is None:
                return
            try:
                self.serial.write(line + "\r\n")
                self.serial.flush()
                return
            except OSError:
                self.serial = self._open()


def requested_mode(xml_text):
    """'', 'report' or 'drill': what the hidden property asks for."""
    if not xml_text:
        return ""
    try:
        value = parse_environment(xml_text).get(PROPERTY, "")
    except AgentError:
        return ""
    value = value.strip().lower()
    return value if value in ("report", "drill") else ""


def file_report(xml_text, profile, root="/"):
    """(env line words, [(path, digest, verdict)]) of the agent's files against a render of this environment."""
    try:
        settings = validate(parse_environment(xml_text), profile)
    except ValidationError as exc:
        return ["invalid", exc.lines()[0]], _digests_only(root)
    except AgentError as exc:
        return ["invalid", str(exc)], _digests_only(root)
    _hashes, _certificate, _record, expected = pipeline.rendered_files(settings, profile, root, pipeline.load_state(root))
    rows = []
    for output in expected:
        current = _read(root, output.path)
        if current is None:
            rows.append(("/" + output.path, "-", "missing"))
        else:
            same = _same_config(output.path, current, output.content)
            rows.append(("/" + output.path, _sha256(current), "rendered" if same else "differs"))
    return ["ok"], rows


def _same_config(path, current, expected):
    """The file as configure renders it; the banner's VRRP line is live state (appliance-report), not config."""
    if path == status.ISSUE_FILE:
        return status.with_vrrp_line(current, None) == status.with_vrrp_line(expected, None)
    return current == expected


def _digests_only(root):
    rows = []
    for path in ("etc/haproxy/haproxy.cfg", "etc/keepalived/keepalived.conf", "etc/systemd/scripts/ip4save",
                 render.NETWORK_FILE):
        current = _read(root, path)
        rows.append(("/" + path, _sha256(current) if current is not None else "-", "kept" if current else "missing"))
    return rows


def _read(root, relative):
    try:
        with open(os.path.join(root, relative), "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def unit_state(unit, run=subprocess.run):
    """(ActiveState, the config file named on its main process's command line or '-')."""
    shown = run(["systemctl", "show", "-p", "ActiveState", "-p", "MainPID", unit],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    values = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    config = "-"
    pid = values.get("MainPID", "0")
    if pid.isdigit() and pid != "0":
        config = config_in_cmdline(_cmdline(int(pid)), CONFIG_OF.get(unit))
    return values.get("ActiveState", "unknown"), config


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def config_in_cmdline(words, default):
    """The file after -f (haproxy, keepalived), else the daemon's built-in default."""
    for index, word in enumerate(words):
        if word in ("-f", "--use-file") and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--use-file="):
            return word.split("=", 1)[1]
    return default or "-"


def held_vips(vips, run=subprocess.run):
    shown = run(["ip", "-o", "-4", "addr", "show"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                universal_newlines=True)
    present = set()
    for line in shown.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            present.add(words[words.index("inet") + 1].split("/")[0])
    return [vip for vip in vips if vip in present]


def expected_vips(xml_text, profile):
    try:
        return [str(vip) for vip in validate(parse_environment(xml_text), profile).vips]
    except AgentError:
        return []


def report(xml_text, profile, say, root="/"):
    env, rows = file_report(xml_text, profile, root)
    say("ENV", *env)
    for path, digest, verdict in rows:
        say("FILE", path, digest, verdict)
    deadline = time.monotonic() + SETTLE_SECONDS
    for unit in CHECKED_UNITS:
        state, config = unit_state(unit)
        while state in ("activating", "reloading", "inactive") and time.monotonic() < deadline:
            time.sleep(1)
            state, config = unit_state(unit)
        say("UNIT", unit, state, config)


def watch(vips, say, commands, seconds=WATCH_SECONDS):
    """Report VIP changes; carry out commands read from `commands` (a file of lines, or None)."""
    last = None
    deadline = time.monotonic() + seconds
    pending = []
    if commands is not None:
        import threading

        def reader():
            for line in commands:
                pending.append(line.strip())

        threading.Thread(target=reader, daemon=True).start()
    while time.monotonic() < deadline:
        held = held_vips(vips)
        if held != last:
            say("VIPS", "held", ",".join(held)) if held else say("VIPS", "none")
            last = held
        while pending:
            command = pending.pop(0)
            if command == "stop-haproxy":
                subprocess.run(["systemctl", "stop", "haproxy.service"])
                say("DONE", command)
            elif command == "reboot":
                say("DONE", command)
                subprocess.run(["systemctl", "reboot"])
        time.sleep(0.2)


def _serial_commands(path=SERIAL):
    """The serial port as a line reader, without echo (termios), or None."""
    try:
        import termios

        handle = open(path, "r")
        attributes = termios.tcgetattr(handle)
        attributes[3] &= ~(termios.ECHO | termios.ECHONL)
        termios.tcsetattr(handle, termios.TCSANOW, attributes)
        return handle
    except (OSError, ImportError):
        return None


def run(xml_text, profile, say=None, root="/"):
    mode = requested_mode(xml_text)
    if not mode:
        return 0
    commands = None
    if mode == "drill":
        # A login prompt on the port would take the drill commands: the port is the self-test's
        # now (Photon has none unless the kernel console is ttyS0). Stopped before the port is
        # opened here: a getty hangs up the terminal as it goes, which would cut our descriptors.
        subprocess.run(["systemctl", "stop", "serial-getty@ttyS0.service"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    say = say or Reporter()
    if mode == "drill":
        # opened before READY: a serial port nobody has open drops what it receives
        commands = _serial_commands()
    report(xml_text, profile, say, root)
    vips = expected_vips(xml_text, profile) or [str(vip) for vip in _state_vips(root)]
    say("VIPS", "held", ",".join(held_vips(vips))) if held_vips(vips) else say("VIPS", "none")
    say("READY", "uptime", _seconds(uptime()), "agent", _seconds(agent_finished()))
    if mode == "drill":
        watch(vips, say, commands)
    return 0


def uptime(path="/proc/uptime"):
    try:
        with open(path) as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def agent_finished(run=subprocess.run):
    """Seconds from the kernel's start to the end of appliance-agent.service's run, from systemd."""
    shown = run(["systemctl", "show", "-p", "ExecMainExitTimestampMonotonic", "appliance-agent.service"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    value = shown.stdout.strip().partition("=")[2]
    return int(value) / 1e6 if value.isdigit() and value != "0" else None


def _seconds(value):
    return "-" if value is None else "%.1f" % value


def _state_vips(root):
    # with a broken environment, the VIPs of the kept keepalived.conf
    text = (_read(root, "etc/keepalived/keepalived.conf") or b"").decode("utf-8", "replace")
    found, inside = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("virtual_ipaddress"):
            inside = True
        elif inside and stripped.startswith("}"):
            inside = False
        elif inside and stripped:
            found.append(stripped.split()[0].split("/")[0])
    return found


def main(xml_text, profile):
    try:
        return run(xml_text, profile)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a report that cannot finish says so rather than vanish
        Reporter()("FAILED", type(exc).__name__, exc)
        print(exc, file=sys.stderr)
        return 1
