"""The node's state where admins and automation look: console banner, guestinfo, syslog.

- keepalived's notify hook (overlays/usr/libexec/appliance-agent/vrrp-notify,
  run as keepalived_script) records each VRRP state change in
  /run/appliance-vrrp/state and sends it to the syslog servers;
  appliance-report.path then runs `appliance-agent report` as root, which
  puts the state on the console banner (/etc/issue) and publishes it.
- Every apply records its result (last-apply.json); `report` sends it to the
  syslog servers once (at boot that happens after the network is up:
  appliance-report.service) and publishes it.
- Published through VMware Tools as guestinfo.appliance.* variables, where
  vmware-rpctool or vmtoolsd exist.
"""

import json
import shutil
import socket
import subprocess
import time

from . import files
from .render import OutputFile, VRRP_LINE_PREFIX

VRRP_STATE_FILE = "run/appliance-vrrp/state"
LAST_APPLY_FILE = "var/lib/appliance-agent/last-apply.json"
STATE_FILE = "var/lib/appliance-agent/state.json"
ISSUE_FILE = "etc/issue"
GUESTINFO_PREFIX = "guestinfo.appliance."
RPC_COMMANDS = (["vmware-rpctool"], ["vmtoolsd", "--cmd"])
VRRP_STATES = ("MASTER", "BACKUP", "FAULT", "STOP")
FACILITY_DAEMON = 3
SEVERITY = {"ok": 5, "failed": 3}  # notice, err


def _utc(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _read_json(root, relative):
    raw = files.read_current(root, relative)
    try:
        value = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def vrrp_state(root):
    """(state, since epoch) as the notify hook last recorded it, or None."""
    raw = files.read_current(root, VRRP_STATE_FILE)
    fields = raw.decode("ascii", "replace").split() if raw else []
    if len(fields) != 2 or fields[0] not in VRRP_STATES or not fields[1].isdigit():
        return None
    return fields[0], int(fields[1])


def vrrp_text(state):
    if state is None:
        return "state not reported yet (keepalived starting)"
    return "%s since %s" % (state[0], _utc(state[1]))


def with_vrrp_line(issue, state):
    """The banner bytes with its VRRP line showing `state`; unchanged when it has no such line."""
    lines = issue.decode("utf-8").split("\n")
    for index, line in enumerate(lines):
        if line.startswith(VRRP_LINE_PREFIX):
            lines[index] = VRRP_LINE_PREFIX + vrrp_text(state)
    return "\n".join(lines).encode("utf-8")


def refresh_banner(root):
    """Rewrite /etc/issue's VRRP line from the recorded state; True when it changed."""
    current = files.read_current(root, ISSUE_FILE)
    if current is None:
        return False
    updated = with_vrrp_line(current, vrrp_state(root))
    if updated == current:
        return False
    files.replace_all(root, [OutputFile(ISSUE_FILE, updated, mode=files.current_mode(root, ISSUE_FILE) or 0o644)])
    return True


def record_apply(root, ok, message, role=None, now=None):
    """Record this apply's result for `report` (written whole, 0600)."""
    record = {"result": "ok" if ok else "failed", "message": message, "time": int(now or time.time()), "reported": False}
    if role:
        record["role"] = role
    content = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files.replace_all(root, [OutputFile(LAST_APPLY_FILE, content, mode=0o600)])
    return record


def syslog_servers(root):
    """[(address, port)] of the last good configuration (state.json)."""
    servers = []
    for entry in _read_json(root, STATE_FILE).get("syslog", []):
        address, _, port = str(entry).rpartition(":")
        if address and port.isdigit():
            servers.append((address, int(port)))
    return servers


def syslog_datagram(severity, hostname, message, app="appliance-agent", now=None):
    """One RFC 5424 message (facility daemon), as util-linux `logger -n` sends it."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now or time.time()))
    clean = " ".join(message.split())  # one line, whatever the message held
    return ("<%d>1 %s %s %s - - - %s" % (FACILITY_DAEMON * 8 + severity, stamp, hostname or "-", app, clean)).encode("utf-8", "replace")


def send_syslog(servers, datagram, log=lambda line: None):
    """Send one datagram to each server over UDP; True when every send went out."""
    sent = True
    for address, port in servers:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(datagram, (address, port))
        except OSError as exc:
            log("syslog %s:%d: not sent (%s)" % (address, port, exc.strerror or exc))
            sent = False
    return sent


def publish_guestinfo(values, log=lambda line: None, run=subprocess.run):
    """guestinfo.appliance.<key> = value through VMware Tools; the keys published.

    vmware-rpctool first, then vmtoolsd --cmd: on a VM with
    guest_rpc.rpci.auth.cmd.info-set = "TRUE" only the latter (as root) may
    set variables, since vmware-rpctool has no privileged channel.
    """
    published = []
    commands = [c for c in RPC_COMMANDS if shutil.which(c[0])]
    for key, value in sorted(values.items()):
        request = "info-set %s%s %s" % (GUESTINFO_PREFIX, key, " ".join(str(value).split()))
        answers = []
        for command in commands:
            try:
                result = run(command + [request], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired) as exc:
                answers.append("%s: %s" % (command[0], exc))
                continue
            if result.returncode == 0:
                published.append(GUESTINFO_PREFIX + key)
                break
            answers.append("%s: %s" % (command[0], result.stdout.strip()[:200] or "exit %d" % result.returncode))
        else:
            if answers:
                log("guestinfo: %s%s not set (%s)" % (GUESTINFO_PREFIX, key, "; ".join(answers)))
    return published


def apply_text(record):
    if not record:
        return ""
    return "%s %s: %s" % (record.get("result", "?"), _utc(record.get("time", 0)), record.get("message", ""))


def report(root="/", log=lambda line: None, run=subprocess.run, send=send_syslog):
    """Banner, guestinfo and the pending apply result to syslog. Returns what was done, for the log."""
    done = []
    if refresh_banner(root):
        done.append("banner")
    state = _read_json(root, STATE_FILE)
    record = _read_json(root, LAST_APPLY_FILE)
    values = {"vrrp_state": vrrp_text(vrrp_state(root))}
    if state.get("role"):
        values["role"] = state["role"]
    if state.get("tls", {}).get("fingerprint"):
        values["stats_fingerprint"] = state["tls"]["fingerprint"]
    if record:
        values["apply"] = apply_text(record)
    done += publish_guestinfo(values, log, run)
    servers = syslog_servers(root)
    if record and not record.get("reported") and servers:
        hostname = (files.read_current(root, "etc/hostname") or b"").decode("ascii", "replace").strip()
        message = "configuration %s: %s" % ("applied" if record.get("result") == "ok" else "FAILED", record.get("message", ""))
        if send(servers, syslog_datagram(SEVERITY.get(record.get("result"), 4), hostname, message, now=record.get("time")), log):
            record["reported"] = True
            content = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
            files.replace_all(root, [OutputFile(LAST_APPLY_FILE, content, mode=0o600)])
            done.append("syslog")
    return done
