"""The agent's pipeline: environment -> properties -> settings -> files -> daemons.

Only `replace_all` (files.py) and `activate` touch the system; everything
before them is pure, and a failure there leaves the root untouched.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import List

from . import accounts, activate as activation, checks, files, render, status, tls
from .errors import ApplyError
from .ovfenv import parse_environment
from .form import form_for
from .limits import printable
from .settings import validate, warnings

STATE_FILE = "var/lib/appliance-agent/state.json"
# Written by the install's postinstall (kickstart/postinstall.sh) when a step failed.
INSTALL_FAILED = "etc/appliance/install-failed"
SHADOW = "etc/shadow"
AUTHORIZED_KEYS = "root/.ssh/authorized_keys"
SSHD_CONFIG = "etc/ssh/sshd_config"
UNKNOWN_KEYS_LOGGED = 10


@dataclass
class Result:
    changed: List[str]
    reloaded: List[str]
    role: str


def load_state(root):
    raw = files.read_current(root, STATE_FILE)
    if raw is None:
        return {}
    try:
        state = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _properties_digest(properties, profile):
    """Digest of the non-secret property values, to tell a re-apply from a first apply."""
    visible = dict((p.key, properties.get(p.key, p.default)) for p in form_for(profile) if not p.password)
    return hashlib.sha256(json.dumps(visible, sort_keys=True).encode("utf-8")).hexdigest()


def system_edits(settings, hashes, root):
    """Files the agent shares with the system, edited where they need it."""
    outputs = []
    root_hash = hashes.get("node.root_password")
    if root_hash:
        shadow = (files.read_current(root, SHADOW) or b"").decode("utf-8")
        mode = files.current_mode(root, SHADOW)
        outputs.append(render.OutputFile(SHADOW, accounts.set_root_hash(shadow, root_hash).encode("utf-8"), mode=0o600 if mode is None else mode))
    keys = files.read_current(root, AUTHORIZED_KEYS)
    if settings.ssh_key or keys is not None:
        outputs.append(render.OutputFile(AUTHORIZED_KEYS, accounts.set_managed_key((keys or b"").decode("utf-8"), settings.ssh_key).encode("utf-8"), mode=0o600))
    sshd = files.read_current(root, SSHD_CONFIG)
    if settings.ssh_key and sshd is not None:
        outputs.append(
            render.OutputFile(SSHD_CONFIG, accounts.allow_root_key_login(sshd.decode("utf-8")).encode("utf-8"), mode=files.current_mode(root, SSHD_CONFIG), unit=render.UNIT_SSHD)
        )
    return outputs


def _current_banner(output, root):
    """The banner with the VRRP state keepalived last reported, so a re-apply does not reset it."""
    if output.path != status.ISSUE_FILE:
        return output
    return render.OutputFile(output.path, status.with_vrrp_line(output.content, status.vrrp_state(root)), output.mode, output.unit, output.action)


def install_failure(root):
    """What the install reported as failed (one line), or None after a clean install."""
    text = (files.read_current(root, INSTALL_FAILED) or b"").decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else None


def rendered_files(settings, profile, root, state):
    """(hashes, certificate file, certificate record, template outputs) as this node gets them.

    configure writes these; the self-test compares the node's files with them.
    """
    hashes = render.password_hashes(settings, state.get("hashes", {}))
    certificate, tls_state = tls.stats_certificate(settings, root, state.get("tls", {}))
    rendered = render.render(settings, hashes, profile.templates, certificate=tls_state, install_failure=install_failure(root))
    return hashes, certificate, tls_state, [_current_banner(output, root) for output in rendered]


def configure(xml_text, profile, root="/", check=True, activate=False, log=print):
    """Configure the node under `root` from an OVF environment; all or nothing."""
    properties = parse_environment(xml_text)
    known = set(p.key for p in form_for(profile))
    unknown = sorted(set(properties) - known)
    for key in unknown[:UNKNOWN_KEYS_LOGGED]:
        log("ignoring property %s: not a property of this appliance" % printable(key))
    if len(unknown) > UNKNOWN_KEYS_LOGGED:
        log("ignoring %d more unknown properties" % (len(unknown) - UNKNOWN_KEYS_LOGGED))
    settings = validate(properties, profile)
    for key, message in warnings(settings):
        log("warning: %s: %s" % (key, message))
    try:
        return _configure(properties, settings, profile, root, check, activate, log)
    except OSError as exc:
        # Reading the current files or writing the scratch copies failed (a directory where a
        # file belongs, no permission): nothing was replaced.
        where = getattr(exc, "filename", None) or "the configuration"
        raise ApplyError("%s: %s; fix or remove it, nothing was changed" % (printable(str(where), 200), exc.strerror or exc))


def _configure(properties, settings, profile, root, check, activate, log):
    state = load_state(root)
    hashes, certificate, tls_state, outputs = rendered_files(settings, profile, root, state)
    outputs.append(certificate)
    outputs += system_edits(settings, hashes, root)
    new_state = {"properties": _properties_digest(properties, profile), "hashes": hashes, "role": settings.role, "tls": tls_state}
    if settings.syslog_servers:
        new_state["syslog"] = ["%s:%d" % server for server in settings.syslog_servers]
    outputs.append(render.OutputFile(STATE_FILE, (json.dumps(new_state, indent=2, sort_keys=True) + "\n").encode("utf-8"), mode=0o600))
    if check:
        checks.check_rendered(outputs, log)
    changed = files.changed_files(root, outputs)
    try:
        files.replace_all(root, changed)
    except OSError as exc:
        where = getattr(exc, "filename", None) or "the configuration"
        raise ApplyError("writing %s failed (%s); the previous files were kept" % (printable(str(where), 200), exc.strerror or exc))
    reloaded = activation.activate(changed, root, log) if activate and changed else []
    return Result([output.path for output in changed], reloaded, settings.role)
