"""Edit the ISO's boot menus so both firmwares start the unattended install.

Stock menus (../shared/reference/photon.md section 2.2): isolinux's
`timeout 0` waits forever for a key; GRUB boots its first entry after 3 s.
Both get the kickstart argument next to the existing `photon.media=` and a
label that says what booting it does. Edits are idempotent: an argument
already present is replaced, not repeated.

Consoles: the stock launcher in the initrd (/bin/bootphotoninstaller) reads
the whole of /sys/devices/virtual/tty/console/active and starts the
installer on tty1 only when it reads exactly "tty0" (no console= at all),
else only on the terminal named by the whole string. Two console= make it
read "ttyS0 tty0" and the installer starts nowhere. So the default entry
has NO console= (installer on tty1, the VM console a vSphere admin opens),
and a second entry has `console=ttyS0,115200n8` alone (installer on the
serial port, for diagnosis). The install's own markers reach the serial
port from either entry (kickstart/postinstall.sh).
"""

import re

from ..errors import InvalidArtifact

# Tenths of a second: long enough to press a key and stop an install, short
# enough that nobody has to.
ISOLINUX_TIMEOUT = 30
GRUB_TIMEOUT = 3
SERIAL_SPEED = 115200


SERIAL_CONSOLE = f"console=ttyS0,{SERIAL_SPEED}n8"
# The second entry's isolinux label and the suffix of both menus' titles for it.
SERIAL_LABEL = "appliance-serial"
SERIAL_TITLE_SUFFIX = ", installer on serial port ttyS0"


def kernel_arguments(ks_path: str) -> list[str]:
    """What the installer kernel needs for an unattended install from this CD (default entry).

    No console=: the stock launcher then runs the installer on tty1, the VM console.
    """
    return [f"ks=cdrom:{ks_path}", "photon.media.mount_retry=10"]


def serial_arguments(arguments: list[str]) -> list[str]:
    """The second entry's arguments: the default ones plus one console=, the serial port."""
    return [arg for arg in arguments if not arg.startswith("console=")] + [SERIAL_CONSOLE]


def serial_title(title: str) -> str:
    return title + SERIAL_TITLE_SUFFIX


def add_arguments(line: str, arguments: list[str], *, media: str) -> str:
    """`line` (an isolinux append or GRUB linux line) with `arguments` set.

    Arguments with the same key (text before '=') are replaced. Every
    console= already on the line is dropped: the launcher accepts one at
    most, so only `arguments` decide. photon.media= is kept, or added as
    `media` when missing (ks=cdrom: fails without it).
    """
    words = line.split()
    new_keys = {arg.split("=", 1)[0] for arg in arguments} | {"console"}
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
    """menu.cfg: the default label gets the arguments and a telling title; a serial twin follows it."""
    lines = text.splitlines()
    # An earlier edit's serial twin is rebuilt from the default entry below.
    for name, start, end in reversed(_isolinux_labels(lines)):
        if name == SERIAL_LABEL:
            del lines[start:end]
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
    original_append = lines[append_at]
    lines[append_at] = add_arguments(original_append, arguments, media="cdrom")
    label_at = next((i for i in range(start, end) if lines[i].strip().lower().startswith("menu label")), None)
    indent = lines[append_at][: len(lines[append_at]) - len(lines[append_at].lstrip())]
    if label_at is None:
        lines.insert(start + 1, f"{indent}menu label ^{title}")
        end += 1
        append_at += 1
    else:
        lines[label_at] = f"{indent}menu label ^{title}"
    twin = [f"label {SERIAL_LABEL}"]
    for i in range(start + 1, end):
        word = lines[i].strip().lower()
        if word == "menu default" or not word:
            continue
        if word.startswith("menu label"):
            # ^s: the key that picks this entry in the menu.
            twin.append(f"{indent}menu label {serial_title(title).replace('serial port', '^serial port')}")
        elif i == append_at:
            twin.append(add_arguments(original_append, serial_arguments(arguments), media="cdrom"))
        else:
            twin.append(lines[i])
    while end > start and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = twin
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
    """grub.cfg: short timeout, serial terminal if the GRUB image has it, the default entry edited,
    its serial twin right after it."""
    lines = text.splitlines()
    default = 0
    for line in lines:
        match = _GRUB_DEFAULT.match(line)
        if match:
            default = int(match.group(1))
    lines = _drop_serial_entries(lines)
    entries = [i for i, line in enumerate(lines) if _GRUB_MENUENTRY.match(line)]
    if not entries:
        raise InvalidArtifact("grub.cfg has no menuentry to boot")
    entry = entries[default] if default < len(entries) else entries[0]
    linux_at = next((i for i in range(entry, len(lines)) if _GRUB_LINUX.match(lines[i])), None)
    if linux_at is None:
        raise InvalidArtifact("grub.cfg: the default menuentry has no 'linux' line for the kernel arguments")
    original_linux = lines[linux_at]
    lines[linux_at] = add_arguments(original_linux, arguments, media="cdrom")
    match = _GRUB_MENUENTRY.match(lines[entry])
    lines[entry] = f'{match.group(1)}menuentry "{title}"{match.group(3)}'
    close_at = _grub_entry_end(lines, entry)
    twin = list(lines[entry:close_at + 1])
    twin[0] = f'{match.group(1)}menuentry "{serial_title(title)}"{match.group(3)}'
    twin[linux_at - entry] = add_arguments(original_linux, serial_arguments(arguments), media="cdrom")
    lines[close_at + 1:close_at + 1] = [""] + twin

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


def _grub_entry_end(lines: list[str], entry: int) -> int:
    """The line of the `}` closing the menuentry that starts at `entry` (braces counted)."""
    depth, opened = 0, False
    for index in range(entry, len(lines)):
        depth += lines[index].count("{") - lines[index].count("}")
        opened = opened or "{" in lines[index]
        if opened and depth <= 0:
            return index
    raise InvalidArtifact("grub.cfg: a menuentry has no closing '}'")


def _drop_serial_entries(lines: list[str]) -> list[str]:
    """`lines` without the serial twins of an earlier edit (and the blank line before each)."""
    for index, line in enumerate(lines):
        match = _GRUB_MENUENTRY.match(line)
        if match and match.group(2).strip("\"'").endswith(SERIAL_TITLE_SUFFIX):
            end = _grub_entry_end(lines, index)
            start = index - 1 if index > 0 and not lines[index - 1].strip() else index
            return _drop_serial_entries(lines[:start] + lines[end + 1:])
    return lines
