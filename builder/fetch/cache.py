"""Where downloads are kept between runs, and how a kept file is known to be good.

The directory is, first found: --cache-dir, $BUILD_APPLIANCE_CACHE,
$XDG_CACHE_HOME/photon-appliance-builder (XDG Base Directory spec: only an
absolute XDG_CACHE_HOME counts), ~/.cache/photon-appliance-builder.

A cached file carries a small `<name>.verified` note (size, mtime and the
digests it matched), so a second build does not hash a 4 GiB ISO again; a
file whose size or mtime changed is hashed afresh. An ISO given with --iso
gets its SHA-256 remembered under digests/ instead (nothing is written
beside the admin's file), keyed by the file's identity and change time,
which no tool can set back: any change to the file makes it hashed again.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput
from ..io.hashing import file_digest
from .download import Checksum

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


def remembered_sha256(path: Path, root: Path) -> str | None:
    """The SHA-256 remembered for `path` under the cache `root`, if the file is unchanged since."""
    try:
        memo = json.loads(_memo_path(path, root).read_text())
        stamp = identity_stamp(path)
    except (OSError, ValueError):
        return None
    if not isinstance(memo, dict) or memo.get("stamp") != stamp:
        return None
    digest = memo.get("sha256")
    return digest if isinstance(digest, str) and len(digest) == 64 else None


def remember_sha256(path: Path, stamp: list[int], digest: str, root: Path) -> None:
    """Remember `digest` for `path` as it was at `stamp` (taken before hashing it)."""
    target = _memo_path(path, root)
    temporary = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"path": str(Path(path).resolve()), "stamp": stamp, "sha256": digest}))
        os.replace(temporary, target)
    except OSError:
        pass  # only a speed-up


def identity_stamp(path: Path) -> list[int]:
    """Device, inode, size, modification and change time: equal stamps, same bytes."""
    stat = os.stat(path)
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _memo_path(path: Path, root: Path) -> Path:
    key = hashlib.sha256(str(Path(path).resolve()).encode("utf-8", "surrogateescape")).hexdigest()
    return Path(root) / "digests" / f"{key}.json"
