"""Verified HTTP(S) downloads: stream to `<dest>.partial`, check the digest, then rename.

A file appears under its final name only once its checksum matched, so a
cut connection, a full disk or a corrupt mirror never leaves something that
looks finished. An interrupted download keeps its `.partial` file and the
next attempt asks for the rest with a Range request; a server that answers
200 instead of 206 gets a clean restart, and so does a resumed file whose
digest comes out wrong (the part on disk may be from an older upload).

Proxies come from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, in
either case) through urllib's ProxyHandler, which a fresh opener per request
picks up; file:// URLs work too, for mirrors on a mounted disk.
"""

import http.client
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .. import __version__
from ..errors import BuildError, InvalidArtifact, InvalidInput
from ..io.hashing import file_digest

CHUNK = 1024 * 1024
DEFAULT_TIMEOUT = 30.0  # seconds per connect and per read, not for the whole transfer
DEFAULT_RETRIES = 2  # further attempts after an interruption, each resuming where the last stopped
METADATA_LIMIT = 512 * 1024 * 1024  # repomd.xml and primary stay far below this
OFFLINE_HINT = "check the network or HTTPS_PROXY, or use --iso/--rpm-dir with files you downloaded"
# Digest names as repodata and checksum files spell them -> hashlib names.
ALGORITHMS = {"sha": "sha1", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
              "sha512": "sha512"}
HEX_LENGTH = {"sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}

Progress = Callable[[int, int | None], None]


class NetworkError(BuildError):
    """The network, a proxy or a server failed: nothing the user typed is wrong, but no file came."""


@dataclass(frozen=True)
class Checksum:
    """An expected digest: hashlib algorithm name and lowercase hex value."""

    algorithm: str
    value: str

    @classmethod
    def of(cls, algorithm: str, value: str, what: str = "checksum") -> "Checksum":
        """A checked Checksum; `algorithm` may be a repodata name ("sha" is SHA-1)."""
        name = ALGORITHMS.get((algorithm or "").lower())
        if name is None:
            raise InvalidInput(f"{what}: unsupported checksum type {algorithm!r} (use sha256, sha512 or sha1)")
        value = (value or "").strip().lower()
        if not re.fullmatch(r"[0-9a-f]{%d}" % HEX_LENGTH[name], value):
            raise InvalidInput(f"{what}: a {name} checksum is {HEX_LENGTH[name]} hex digits, got {value[:20]!r}")
        return cls(name, value)

    @classmethod
    def parse(cls, text: str, what: str = "checksum") -> "Checksum":
        """A Checksum from "sha512:HEX"."""
        algorithm, sep, value = (text or "").partition(":")
        if not sep:
            raise InvalidInput(f"{what}: expected ALGORITHM:HEX, e.g. sha256:0123...")
        return cls.of(algorithm, value, what)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value}"


class _Interrupted(Exception):
    """The body stopped early; the .partial file keeps what arrived."""


class _RangeRefused(Exception):
    """The server cannot serve the asked range (416): start over."""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, BaseException):
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    else:
        text = str(reason)
    return " ".join(text.split())  # one line, whatever the OS said


def _open(url: str, headers: dict, timeout: float):
    """urlopen through an opener built now, so the current proxy environment applies."""
    opener = urllib.request.build_opener()  # includes ProxyHandler() reading *_proxy / no_proxy
    request = urllib.request.Request(url, headers={"User-Agent": f"build-appliance/{__version__}", **headers})
    parts = urlsplit(url)
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and "Range" in headers:
            raise _RangeRefused()
        hint = "; check the URL (--iso-url, --repo-url or --mirror)" if exc.code in (403, 404, 410) else ""
        raise NetworkError(f"HTTP {exc.code} {exc.reason} for {url}{hint}")
    except urllib.error.URLError as exc:
        if parts.scheme == "file":
            raise NetworkError(f"cannot read {url}: {_reason(exc)}")
        raise NetworkError(f"cannot reach {parts.hostname}: {_reason(exc)}; {OFFLINE_HINT}")
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, garbage instead of HTTP
        raise NetworkError(f"cannot reach {parts.hostname}: {_reason(exc)}; {OFFLINE_HINT}")


def _status(response) -> int:
    return getattr(response, "status", None) or 200  # file:// responses have no status


def _content_range(response) -> tuple[int, int | None] | None:
    """(first byte, total size or None) from a 206's Content-Range."""
    match = re.fullmatch(r"bytes\s+(\d+)-\d+/(\d+|\*)", (response.headers.get("Content-Range") or "").strip())
    if not match:
        return None
    return int(match.group(1)), (None if match.group(2) == "*" else int(match.group(2)))


def _length(response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _transfer(url: str, partial: Path, progress: Progress | None, timeout: float) -> bool:
    """Append the rest of `url` to `partial`, or rewrite it from byte 0; True when it resumed."""
    offset = partial.stat().st_size if partial.exists() else 0
    try:
        response = _open(url, {"Range": f"bytes={offset}-"} if offset else {}, timeout)
    except _RangeRefused:  # e.g. the file on the server shrank: what we have is useless
        partial.unlink()
        offset = 0
        response = _open(url, {}, timeout)
    with response:
        status = _status(response)
        content_range = _content_range(response) if status == 206 else None
        if offset and content_range and content_range[0] == offset:
            mode, done = "ab", offset
            total = content_range[1] if content_range[1] is not None else _plus(offset, _length(response))
        elif status == 200:  # no Range sent, or the server ignored it: start over
            mode, done, total = "wb", 0, _length(response)
        elif offset and status == 206:  # a range we did not ask for: distrust the part on disk
            partial.unlink()
            raise _Interrupted(f"the server answered with another byte range than {offset}-")
        else:
            raise NetworkError(f"unexpected HTTP {status} for {url} (asked for bytes {offset}-)")
        try:
            done = _copy(response, partial, mode, done, total, progress)
        except OSError as exc:  # the disk, not the network: say so, keep what arrived
            raise InvalidInput(f"cannot write {partial}: {exc.strerror or exc}; free some space or choose "
                               "another --out/--cache-dir")
        if total is not None and done < total:
            raise _Interrupted(f"connection closed after {done} of {total} bytes")
        return mode == "ab"


def _copy(response, partial: Path, mode: str, done: int, total: int | None, progress: Progress | None) -> int:
    """Stream the body into `partial`; the byte count reached (network errors become _Interrupted)."""
    with open(partial, mode) as out:
        if progress:
            progress(done, total)
        while True:
            try:
                block = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(f"connection lost after {done} bytes ({_reason(exc)})")
            if not block:
                break
            out.write(block)
            done += len(block)
            if progress:
                progress(done, total)
        out.flush()
        os.fsync(out.fileno())
    return done


def _plus(offset: int, length: int | None) -> int | None:
    return None if length is None else offset + length


def download(
    url: str,
    dest: Path,
    checksum: Checksum,
    *,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
) -> Path:
    """Download `url` to `dest`, verified against `checksum`; returns `dest`.

    An existing `dest` with the right digest is kept and nothing is fetched.
    Data goes to `dest.partial` first; after an interruption up to `retries`
    further attempts resume from it. What is left after the last attempt
    stays as `.partial` for the next run to resume. `progress(done, total)`
    is called as bytes arrive (total is None when the server does not say).

    Raises NetworkError (unreachable, HTTP error, interrupted too often) or
    InvalidArtifact (the digest does not match: the file is deleted).
    """
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".partial")
    if dest.is_file() and file_digest(dest, checksum.algorithm) == checksum.value:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    interruptions, restarted = 0, False
    while True:
        try:
            resumed = _transfer(url, partial, progress, timeout)
        except _Interrupted as exc:
            interruptions += 1
            if interruptions > retries:
                raise NetworkError(
                    f"download of {url} interrupted: {exc}; run the command again to resume it "
                    f"({partial.name} keeps what arrived)"
                )
            continue
        actual = file_digest(partial, checksum.algorithm)
        if actual == checksum.value:
            os.replace(partial, dest)
            return dest
        partial.unlink()
        if resumed and not restarted:
            restarted = True  # the earlier part may be stale: one clean download decides
            continue
        raise InvalidArtifact(
            f"{url}: {checksum.algorithm} mismatch (expected {checksum.value[:16]}..., got {actual[:16]}...); "
            "the download was corrupt or the file changed on the server, and it was discarded"
        )


def fetch_bytes(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                limit: int = METADATA_LIMIT) -> bytes:
    """The whole body of `url` in memory (repository metadata); NetworkError when it cannot be had."""
    for _ in range(retries + 1):
        with _open(url, {}, timeout) as response:
            expected = _length(response)
            try:
                data = response.read(limit + 1)
            except (OSError, http.client.HTTPException) as exc:
                problem = _reason(exc)
            else:
                if len(data) > limit:
                    raise InvalidArtifact(f"{url}: larger than {limit} bytes, which no repository metadata is")
                if expected is None or len(data) >= expected:
                    return data
                problem = f"connection closed after {len(data)} of {expected} bytes"
    raise NetworkError(f"reading {url} failed: {problem}; {OFFLINE_HINT}")


def url_file_name(url: str) -> str:
    """The last path segment of a URL (the file name a download gets)."""
    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        raise InvalidInput(f"{url}: the URL names no file")
    return urllib.request.url2pathname(name)

