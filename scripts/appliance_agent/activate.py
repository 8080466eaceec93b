"""Make running daemons pick up changed files: reload what changed, nothing else.

At boot the agent runs before the network and the daemons start, so there
is nothing to reload; when it runs later, HAProxy and keepalived reload
(live sessions survive), they are never restarted.
"""

import subprocess

from . import render

# unit -> command that makes it re-read its files while running
RELOAD_COMMANDS = {
    render.UNIT_NETWORK: [["networkctl", "reload"], ["systemctl", "restart", render.UNIT_NETWORK]],
    render.UNIT_FIREWALL: [["systemctl", "restart", render.UNIT_FIREWALL]],
    render.UNIT_KEEPALIVED: [["systemctl", "reload", render.UNIT_KEEPALIVED]],
    render.UNIT_HAPROXY: [["systemctl", "reload", render.UNIT_HAPROXY]],
    render.UNIT_SSHD: [["systemctl", "reload", render.UNIT_SSHD]],
}


def _call(command, run):
    try:
        return run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60).returncode
    except (OSError, subprocess.TimeoutExpired):
        return None


def activate(changed, root, log, run=subprocess.run):
    """Apply `changed` OutputFiles to the running system; returns the units reloaded."""
    for output in changed:
        path = root.rstrip("/") + "/" + output.path
        if output.action == "hostname":
            _call(["hostname", output.content.decode().strip()], run)
        elif output.action == "sysctl":
            if _call(["sysctl", "-q", "-p", path], run) != 0:
                log("warning: sysctl -p %s failed" % path)
    reloaded = []
    for unit in _ordered_units(changed):
        if _call(["systemctl", "is-active", "--quiet", unit], run) != 0:
            continue  # not running yet: it starts with the new files
        for command in RELOAD_COMMANDS[unit]:
            if _call(command, run) == 0:
                reloaded.append(unit)
                log("%s: %s" % (unit, " ".join(command)))
                break
        else:
            log("warning: %s did not take the new configuration; it keeps running the old one" % unit)
    return reloaded


def _ordered_units(changed):
    units = []
    for output in changed:
        if output.unit and output.unit not in units:
            units.append(output.unit)
    # Network and firewall first, so HAProxy and keepalived reload on a ready network.
    order = list(RELOAD_COMMANDS)
    return sorted(units, key=order.index)
