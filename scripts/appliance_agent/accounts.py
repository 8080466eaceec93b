"""Edits of files the agent shares with the system: /etc/shadow, root's
authorized_keys, sshd_config. Pure functions from old content to new content;
lines the agent does not own are kept as they are."""

import time

KEY_BEGIN = "# BEGIN appliance-agent (vApp property node.ssh_key)"
KEY_END = "# END appliance-agent"
SHADOW_DEFAULTS = ["0", "99999", "7", "", "", ""]  # min, max (no expiry), warn, inactive, expire, reserved


def _days_since_epoch():
    return str(int(time.time() // 86400))


def set_root_hash(shadow_text, password_hash):
    """Put `password_hash` on root's shadow line, with no password expiry.

    An unchanged hash leaves the file untouched (idempotence); a new one
    also records today as the change date.
    """
    lines = shadow_text.splitlines() if shadow_text else []
    for index, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] != "root":
            continue
        fields += [""] * (9 - len(fields))
        if fields[1] == password_hash:
            return shadow_text
        fields[1] = password_hash
        fields[2] = _days_since_epoch()
        fields[3], fields[4] = "0", "99999"
        lines[index] = ":".join(fields[:9])
        return "\n".join(lines) + "\n"
    lines.insert(0, ":".join(["root", password_hash, _days_since_epoch()] + SHADOW_DEFAULTS))
    return "\n".join(lines) + "\n"


def set_managed_key(authorized_keys_text, key):
    """Replace the agent's block in authorized_keys; keys added by hand stay."""
    kept = []
    inside = False
    for line in (authorized_keys_text or "").splitlines():
        if line == KEY_BEGIN:
            inside = True
        elif line == KEY_END and inside:
            inside = False
        elif not inside:
            kept.append(line)
    if key:
        kept += [KEY_BEGIN, key, KEY_END]
    return "\n".join(kept) + "\n" if kept else ""


def allow_root_key_login(sshd_config_text):
    """Root may log in over SSH with a key, never with a password.

    Photon ships `PermitRootLogin no`; an SSH key property is useless without this.
    """
    lines = sshd_config_text.splitlines()
    wanted = "PermitRootLogin prohibit-password"
    for index, line in enumerate(lines):
        if line.strip().split(None, 1)[:1] == ["PermitRootLogin"]:
            if line.strip() == wanted:
                return sshd_config_text
            lines[index] = wanted
            return "\n".join(lines) + "\n"
    # Before any Match block, where a global option must stand.
    for index, line in enumerate(lines):
        if line.strip().startswith("Match "):
            lines.insert(index, wanted)
            return "\n".join(lines) + "\n"
    return "\n".join(lines + [wanted]) + "\n"
