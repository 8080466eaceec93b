"""The VM's serial console, read back from the file qemu writes it to.

Guests write markers as whole lines (`<tag>: <STATUS> words...`), but a
console is noisy: kernel messages can land in the middle of a line, boot
loaders draw with ANSI escapes and lines end in CR LF. A marker is found
anywhere in a cleaned line, so a prefix of noise does not hide it.
"""

import re
from dataclasses import dataclass
from pathlib import Path

ANSI_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
MARKER = re.compile(r"(?P<tag>[a-z][a-z0-9-]*): (?P<status>[A-Z][A-Z_-]*)(?: (?P<rest>.*))?$")


@dataclass(frozen=True)
class Marker:
    tag: str
    status: str
    words: tuple[str, ...]
    line: str


def clean_line(raw: str) -> str:
    """A console line without escapes, control characters or trailing blanks."""
    text = ANSI_ESCAPE.sub("", raw.replace("\r", ""))
    return "".join(char for char in text if char == "\t" or char >= " ").rstrip()


def parse_marker(line: str, tag: str) -> Marker | None:
    """The `tag: STATUS words` marker in this console line, or None.

    A carriage return starts the line over (what follows it is what the
    screen shows), and the tag must start the line or follow a blank or a
    `]` (a kernel time stamp, a journal prefix like `agent[312]: `). A
    marker quoted in a script the console echoes (`echo "tag: OK $x"`) is
    not one: the quote precedes the tag, and `$` (an unexpanded variable)
    never occurs in a marker. Other quotes may: "this node's subnet".
    """
    for segment in reversed(line.split("\r")):
        marker = _marker_in(clean_line(segment), tag)
        if marker is not None:
            return marker
    return None


def _marker_in(text: str, tag: str) -> Marker | None:
    start = text.find(tag + ": ")
    while start != -1:
        if start == 0 or text[start - 1] in " \t]":
            found = MARKER.match(text, start)
            if found and found.group("tag") == tag and "$" not in found.group(0):
                rest = found.group("rest") or ""
                return Marker(tag, found.group("status"), tuple(rest.split()), text[start:])
        start = text.find(tag + ": ", start + 1)
    return None


class ConsoleFollower:
    """Reads complete new lines from a growing console file; a partial last line waits for its end."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.pending = b""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as console:
                console.seek(self.offset)
                data = console.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.pending + data
        *lines, self.pending = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def rest(self) -> list[str]:
        """Every line still unread, the unterminated last one too (the VM has stopped)."""
        lines = self.new_lines()
        if self.pending:
            lines.append(self.pending.decode("utf-8", "replace"))
            self.pending = b""
        return lines


def tail(path: Path, lines: int = 15) -> list[str]:
    """The console's last lines, cleaned, for an error message."""
    try:
        text = Path(path).read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    cleaned = [clean_line(line) for line in text.split("\n")]
    return [line for line in cleaned if line][-lines:]
