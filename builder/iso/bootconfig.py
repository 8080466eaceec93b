"""Edit the ISO's boot menus so both firmwares start the unattended install.

Stock menus (../shared/reference/photon.md section 2.2): isolinux's
`timeout 0` waits forever for a key; GRUB boots its first entry after 3 s.
Both get the kickstart argument next to the existing `photon.media=`, a
serial console, and a label that says what booting it does. Edits are
idempotent: an argument already present is replaced, not repeated.
"""

import re

from ..errors import InvalidArtifact

# Tenths of a second: long enough to press a key and stop an install, short
# enough that nobody has to.
ISOLINUX_TIMEOUT = 30
GRUB_TIMEOUT = 3
SERIAL_SPEED = 115200


def kernel_arguments(ks_path: str) -> list[str]:
    """What the installer kernel needs for an unattended install from this CD.

    The installer runs on the last console= (bootphotoninstaller), so the VM
    console (tty0) comes last and the serial port gets the kernel log.
    """
    return [
        f"ks=cdrom:{ks_path}",
        f"console=ttyS0,{SERIAL_SPEED}n8",
        "console=tty0",
        "photon.media.mount_retry=10",
    ]


def add_arguments(line: str, arguments: list[str], *, media: str) -> str:
    """`line` (an isolinux append or GRUB linux line) with `arguments` set.

    Arguments with the same key (text before '=') are replaced; console= is
    replaced as a group because it is repeatable. photon.media= is kept, or
    added as `media` when missing (ks=cdrom: fails without it).
    """
    words = line.split()
    new_keys = {arg.split("=", 1)[0] for arg in arguments}
    kept = [word for word in words if word.split("=", 1)[0] not in new_keys]
    if not any(word.startswith("photon.media=") for word in kept):
        kept.append(f"photon.media={media}")
    indent = line[: len(line) - len(line.lstrip())]
    return indent + " ".join(kept + arguments)


def edit_isolinux_cfg(text: str) -> str:
    """isolinux.cfg: serial console first, a finite timeout."""
    lines = text.splitlines()
    out = []
    saw_timeout = False
    for line in lines:
        word = line.strip().split(" ", 1)[0].lower()
        if word == "serial":
            continue
        if word == "timeout":
            out.append(f"timeout {ISOLINUX_TIMEOUT}")
            saw_timeout = True
            continue
        out.append(line)
    if not saw_timeout:
        out.append(f"timeout {ISOLINUX_TIMEOUT}")
    # syslinux: "serial" must be the first directive of the file.
    return "\n".join([f"serial 0 {SERIAL_SPEED}"] + out) + "\n"


def edit_isolinux_menu(text: str, arguments: list[str], title: str, *, default_label: str | None = None) -> str:
    """menu.cfg: the default label gets the arguments and a telling title."""
    lines = text.splitlines()
    blocks = _isolinux_labels(lines)
    if not blocks:
        raise InvalidArtifact("isolinux menu.cfg has no 'label' entry to boot")
    target = None
    for name, start, end in blocks:
        if any(lines[i].strip().lower() == "menu default" for i in range(start, end)):
            target = (name, start, end)
            break
    if target is None and default_label is not None:
        target = next((block for block in blocks if block[0] == default_label), None)
    if target is None:
        target = blocks[0]
    _name, start, end = target
    append_at = next((i for i in range(start, end) if lines[i].strip().lower().startswith("append ")), None)
    if append_at is None:
        raise InvalidArtifact(f"isolinux menu.cfg: label {target[0]} has no 'append' line for the kernel arguments")
    lines[append_at] = add_arguments(lines[append_at], arguments, media="cdrom")
    label_at = next((i for i in range(start, end) if lines[i].strip().lower().startswith("menu label")), None)
    indent = lines[append_at][: len(lines[append_at]) - len(lines[append_at].lstrip())]
    if label_at is None:
        lines.insert(start + 1, f"{indent}menu label ^{title}")
    else:
        lines[label_at] = f"{indent}menu label ^{title}"
    return "\n".join(lines) + "\n"


def isolinux_default(text: str) -> str | None:
    """The label named by `default` in an isolinux config (None for a UI module)."""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0].lower() == "default" and not words[1].endswith(".c32"):
            return words[1]
    return None


def _isolinux_labels(lines: list[str]) -> list[tuple[str, int, int]]:
    """(name, first line, end line) of every `label` block."""
    starts = [(i, line.split(None, 1)[1].strip()) for i, line in enumerate(lines)
              if line.strip().lower().startswith("label ") and len(line.split()) > 1]
    blocks = []
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        blocks.append((name, start, end))
    return blocks


_GRUB_TIMEOUT = re.compile(r"^(\s*)set\s+timeout=\S*\s*$")
_GRUB_DEFAULT = re.compile(r"^\s*set\s+default=\"?(\d+)\"?\s*$")
_GRUB_MENUENTRY = re.compile(r"^(\s*)menuentry\s+(\"[^\"]*\"|'[^']*'|\S+)(.*)$")
_GRUB_LINUX = re.compile(r"^\s*(linux|linuxefi)\s+\S+")
_GRUB_TERMINAL_OUTPUT = re.compile(r"^\s*terminal_output\b")


def edit_grub_cfg(text: str, arguments: list[str], title: str) -> str:
    """grub.cfg: short timeout, serial terminal if the GRUB image has it, the default entry edited."""
    lines = text.splitlines()
    default = 0
    for line in lines:
        match = _GRUB_DEFAULT.match(line)
        if match:
            default = int(match.group(1))
    entries = [i for i, line in enumerate(lines) if _GRUB_MENUENTRY.match(line)]
    if not entries:
        raise InvalidArtifact("grub.cfg has no menuentry to boot")
    entry = entries[default] if default < len(entries) else entries[0]
    linux_at = next((i for i in range(entry, len(lines)) if _GRUB_LINUX.match(lines[i])), None)
    if linux_at is None:
        raise InvalidArtifact("grub.cfg: the default menuentry has no 'linux' line for the kernel arguments")
    lines[linux_at] = add_arguments(lines[linux_at], arguments, media="cdrom")
    match = _GRUB_MENUENTRY.match(lines[entry])
    lines[entry] = f'{match.group(1)}menuentry "{title}"{match.group(3)}'

    out = []
    saw_timeout = False
    serial_added = any("serial --unit=0" in line for line in lines)
    for index, line in enumerate(lines):
        if _GRUB_TIMEOUT.match(line):
            out.append(f"{_GRUB_TIMEOUT.match(line).group(1)}set timeout={GRUB_TIMEOUT}")
            saw_timeout = True
            continue
        out.append(line)
        if _GRUB_TERMINAL_OUTPUT.match(line) and not serial_added:
            # Photon's grubx64.efi may lack the serial module; `if` keeps the menu working then.
            out.append(f"if serial --unit=0 --speed={SERIAL_SPEED}; then")
            out.append("    terminal_input --append serial")
            out.append("    terminal_output --append serial")
            out.append("fi")
            serial_added = True
    if not saw_timeout:
        out.insert(0, f"set timeout={GRUB_TIMEOUT}")
    return "\n".join(out) + "\n"
