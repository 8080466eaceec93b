"""Where downloads are kept between runs, and how a kept file is known to be good.

The directory is, first found: --cache-dir, $BUILD_APPLIANCE_CACHE,
$XDG_CACHE_HOME/photon-appliance-builder (XDG Base Directory spec: only an
absolute XDG_CACHE_HOME counts), ~/.cache/photon-appliance-builder.

A cached file carries a small `<name>.verified` note (size, mtime and the
digests it matched), so a second build does not hash a 4 GiB ISO again; a
file whose size or mtime changed is hashed afresh.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .download import Checksum, file_digest
from .errors import InvalidInput

APP_NAME = "photon-appliance-builder"
ENV_CACHE = "BUILD_APPLIANCE_CACHE"


def cache_dir(override: Path | None = None, environ=None) -> Path:
    """The cache directory (not created here)."""
    environ = os.environ if environ is None else environ
    if override is not None:
        return Path(override).expanduser()
    if environ.get(ENV_CACHE):
        return Path(environ[ENV_CACHE]).expanduser()
    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_NAME
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".cache" / APP_NAME


@dataclass(frozen=True)
class Cache:
    """The cache directory and its layout: iso/<official file name>."""

    root: Path

    @classmethod
    def at(cls, override: Path | None = None) -> "Cache":
        """The cache at --cache-dir (None: from the environment)."""
        return cls(cache_dir(override))

    def iso_path(self, file_name: str) -> Path:
        """Where an installer ISO is kept."""
        if "/" in file_name or file_name in ("", ".", ".."):
            raise InvalidInput(f"{file_name!r} is not a file name")
        return self.root / "iso" / file_name

    def ensure(self, path: Path) -> None:
        """Create the directory `path` goes into, with a clear message when that is impossible."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                f"cache directory {path.parent} cannot be created ({exc.strerror}); "
                f"pass --cache-dir or set {ENV_CACHE}"
            )

    def is_verified(self, path: Path, checksum: Checksum) -> bool:
        """True when `path` exists with the expected digest (hashing it only if the note does not say)."""
        if not path.is_file():
            return False
        known = recorded_digests(path)
        if checksum.algorithm in known:
            return known[checksum.algorithm] == checksum.value
        actual = file_digest(path, checksum.algorithm)
        self._write_note(path, {**known, checksum.algorithm: actual})
        return actual == checksum.value

    def mark_verified(self, path: Path, checksum: Checksum) -> None:
        """Record that `path` (just checked) has `checksum`."""
        self._write_note(path, {checksum.algorithm: checksum.value})

    def _write_note(self, path: Path, digests: dict) -> None:
        note = {"stamp": _stamp(path), "digests": digests}
        target = _note_path(path)
        temporary = target.with_name(target.name + ".tmp")
        try:
            temporary.write_text(json.dumps(note, sort_keys=True))
            os.replace(temporary, target)
        except OSError:
            pass  # only a speed-up: without the note the file is hashed next time


def recorded_digests(path: Path) -> dict[str, str]:
    """The digests (algorithm -> hex) noted for `path` when it was verified, if it has not changed since."""
    try:
        note = json.loads(_note_path(path).read_text())
        stamp = _stamp(path)
    except (OSError, ValueError):
        return {}
    if not isinstance(note, dict) or note.get("stamp") != stamp or not isinstance(note.get("digests"), dict):
        return {}
    return note["digests"]


def _note_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]
