"""OVA packaging: a plain tar with the descriptor first, then the manifest, then the files.

DSP0243 (../shared/reference/ovf.md section 1): USTAR, the .ovf first, the
.mf right after it (or at the end), then the files in References order; no
directories; vSphere refuses PAX headers. Members over 8 GiB need GNU's
base-256 size field, the only GNU extension written here.

Each file's bytes are written once: its digest is computed while it is
copied, the manifest member is reserved with its final length (digests
are fixed-length) and filled in afterwards.
"""

import contextlib
import dataclasses
import hashlib
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from appliance_agent.profile import shown

from ..errors import InternalError, InvalidArtifact
from ..io.hashing import BackgroundHash
from ..io.kernelcopy import SourceRange, copy_range
from ..io.window import FileWindow

BLOCK = 512
COPY_BLOCK = 1024 * 1024
USTAR_MAX = 8**11 - 1
MANIFEST_LINE = re.compile(r"SHA256\((?P<name>[^)]{1,255})\)= (?P<digest>[0-9a-f]{64})")


@dataclass(frozen=True)
class OvaMember:
    """A file of the package: `write(out)` must write exactly `size` bytes.

    `sha256`, when the caller already knows it (it hashed the file as it
    made it), lets the manifest be written up front: the OVA is then
    written strictly front to back and hashed as a whole on the way.
    """
    name: str
    size: int
    write: Callable[[BinaryIO], None] | None = None
    sha256: str | Callable[[], str] | None = None  # a callable: a digest still being computed
    source: Path | None = None  # or copy this file (in the kernel, while the OVA hash runs beside it)


@dataclass(frozen=True)
class OvaWritten:
    digests: dict[str, str]  # member name -> SHA-256, as in the manifest
    sha256: str | None  # of the .ova itself, when it was written front to back


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    kind = tarfile.USTAR_FORMAT if size <= USTAR_MAX else tarfile.GNU_FORMAT
    header = info.tobuf(format=kind, encoding="ascii", errors="strict")
    if len(header) != BLOCK:
        raise InternalError(f"tar header for {name} is not one block (name too long?)")
    return header


class _HashingWriter:
    """Counts and, when `hashing`, hashes what goes through it (on another core when `background`)."""
    def __init__(self, out: BinaryIO, progress, hashing: bool = True, background: bool = False):
        self.out, self.count, self.progress = out, 0, progress
        self.digest = (BackgroundHash() if background else hashlib.sha256()) if hashing else None
        self.hashing = hashing

    def feed(self, data) -> None:
        (self.digest.feed if isinstance(self.digest, BackgroundHash) else self.digest.update)(data)

    def hexdigest(self) -> str | None:
        return self.digest.hexdigest() if self.hashing else None

    def write(self, data) -> int:
        if self.hashing:
            self.feed(data)
        self.out.write(data)
        self.count += len(data)
        if self.progress:
            self.progress(len(data))
        return len(data)


def manifest_text(digests: dict[str, str]) -> bytes:
    return "".join(f"SHA256({name})= {digest}\n" for name, digest in digests.items()).encode("ascii")


def write_ova(
    path: Path,
    descriptor_name: str,
    descriptor: bytes,
    files: list[OvaMember],
    *,
    mtime: int,
    progress: Callable[[int, int], None] | None = None,
    whole_digest: bool = True,
) -> OvaWritten:
    """Write the OVA at `path` (via `<path>.partial`, removed on failure).

    A member's `sha256` may be a callable: a digest still being computed
    (the ISO's, on another core), asked for only once the bytes are in the
    archive, so that hashing and copying overlap. With `whole_digest` the
    .ova itself is hashed as it is written, which needs every digest before
    the manifest is written: one more SHA-256 pass over all of it.
    """
    path = Path(path)
    names = [descriptor_name] + [member.name for member in files]
    if len(set(names)) != len(names) or any("/" in name or not name.isascii() for name in names):
        raise InternalError(f"OVA member names must be unique plain ASCII file names: {names}")
    if whole_digest:
        files = [_resolved(member) for member in files]
    manifest_name = descriptor_name.rsplit(".", 1)[0] + ".mf"
    manifest_length = len(manifest_text({name: "0" * 64 for name in names}))
    descriptor = aligned_descriptor(descriptor, manifest_length, [member.size for member in files[:-1]])
    digests = {descriptor_name: hashlib.sha256(descriptor).hexdigest()}
    known = all(isinstance(member.sha256, str) for member in files)
    if known:
        digests.update((member.name, member.sha256) for member in files)
    manifest = manifest_text(digests if known else {name: "0" * 64 for name in names})
    total = sum(member.size for member in files)
    done = [0]

    def advance(count):
        done[0] += count
        if progress:
            progress(done[0], total)

    partial = path.with_name(path.name + ".partial")
    try:
        with contextlib.ExitStack() as sources, open(partial, "wb") as raw:
            out = _HashingWriter(raw, None, hashing=known and whole_digest, background=True)
            _write_member(out, descriptor_name, descriptor, mtime)
            manifest_at = raw.tell()
            _write_member(out, manifest_name, manifest, mtime)
            for member in files:
                out.write(_header(member.name, member.size, mtime))
                if member.source is not None:
                    if member.sha256 is None:
                        raise InternalError("a copied member needs its digest, or a pending one")
                    # open until the OVA's digest is done: the hash worker reads it by reference
                    source = sources.enter_context(open(member.source, "rb"))
                    _copy_member(raw, out, member, source, advance)
                else:
                    writer = _HashingWriter(out, advance, hashing=member.sha256 is None)
                    member.write(writer)
                    if writer.count != member.size:
                        raise InternalError(f"{member.name}: wrote {writer.count} bytes, declared {member.size}")
                    if member.sha256 is None:
                        digests[member.name] = writer.hexdigest()
                out.write(bytes(-member.size % BLOCK))
            out.write(bytes(2 * BLOCK))  # end of archive
            if not known:
                digests.update((member.name, _resolved(member).sha256) for member in files if member.sha256)
                final = manifest_text({name: digests[name] for name in names})
                if len(final) != len(manifest):
                    raise InternalError("the manifest changed length")
                raw.seek(manifest_at + BLOCK)
                raw.write(final)
            whole = out.hexdigest()
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return OvaWritten({name: digests[name] for name in names}, whole)


def _resolved(member: OvaMember) -> OvaMember:
    """`member` with a pending digest waited for."""
    return dataclasses.replace(member, sha256=member.sha256()) if callable(member.sha256) else member


PAGE = 4096


def aligned_descriptor(descriptor: bytes, manifest_length: int, sizes_before_last: list[int]) -> bytes:
    """The descriptor padded with trailing spaces so the last member's data starts on a 4 KiB boundary.

    The last member is the installer ISO, copied by the kernel; from and to
    page-aligned offsets that copy is about a third faster. The padding
    depends only on lengths that do not change with the ISO's size.
    """
    def blocks(length):
        return BLOCK + length + -length % BLOCK  # a header, then the data in whole blocks

    offset = blocks(len(descriptor)) + blocks(manifest_length) + sum(map(blocks, sizes_before_last)) + BLOCK
    short = -offset % PAGE
    if not short:
        return descriptor
    body = descriptor.rstrip(b"\n")
    return body.ljust(len(descriptor) + -len(descriptor) % BLOCK + short - 1, b" ") + b"\n"


COPY_PIECE = 16 * 1024 * 1024  # progress is reported per piece


def _copy_member(raw: BinaryIO, out: "_HashingWriter", member: OvaMember, source: BinaryIO, advance) -> None:
    """Copy `member.source` into the archive in the kernel; the OVA's hash worker, if any, reads it too."""
    if os.fstat(source.fileno()).st_size != member.size:
        raise InternalError(f"{member.source} is not {member.size} bytes (was it changed during the build?)")
    raw.flush()
    start = raw.tell()
    done = 0
    while done < member.size:
        piece = SourceRange(source.fileno(), done, min(COPY_PIECE, member.size - done))
        if out.hashing:
            out.feed(piece)
        copy_range(piece, raw.fileno(), start + done)
        done += piece.size
        advance(piece.size)
    raw.seek(start + member.size)
    out.count += member.size


WIDEST_SIZE = 10**13 - 1  # the widest file size a descriptor will name (13 digits)


def padded_descriptor(descriptor_for: Callable[[int], bytes], size: int) -> bytes:
    """The descriptor naming `size`, padded with trailing spaces to the length it has for the widest size.

    Its length then does not depend on the size, so the descriptor can be
    written before the member it describes is made, and an OVA is the same
    whichever way it was written.
    """
    reserved = len(descriptor_for(WIDEST_SIZE))
    descriptor = descriptor_for(size)
    if len(descriptor) > reserved:
        raise InternalError("the descriptor outgrew the space reserved for it")
    return descriptor.rstrip(b"\n").ljust(reserved - 1, b" ") + b"\n"


def write_ova_in_place(
    path: Path,
    descriptor_name: str,
    descriptor_for: Callable[[int], bytes],
    files: list[tuple[str, bytes]],
    last_name: str,
    write_last: Callable[[BinaryIO], str],
    *,
    mtime: int,
    whole_digest: bool = True,
) -> OvaWritten:
    """Write an OVA whose last member is made straight into the archive (no copy of it anywhere).

    `write_last(window)` writes that member into a file object whose offset
    0 is the member's first byte and returns its SHA-256; its size is where
    it stopped. The descriptor, which names that size, is made afterwards
    by `descriptor_for(size)` and padded with trailing spaces to the length
    reserved for it (XML allows white space after the root element), the
    manifest (fixed-length lines) is filled in, then, with `whole_digest`,
    the whole OVA is hashed in one read. Written via `<path>.partial`,
    removed on failure.
    """
    path = Path(path)
    names = [descriptor_name] + [name for name, _data in files] + [last_name]
    if len(set(names)) != len(names) or any("/" in name or not name.isascii() for name in names):
        raise InternalError(f"OVA member names must be unique plain ASCII file names: {names}")
    manifest_name = descriptor_name.rsplit(".", 1)[0] + ".mf"
    manifest_length = len(manifest_text({name: "0" * 64 for name in names}))
    sizes_before_last = [len(data) for _name, data in files]
    reserved = len(aligned_descriptor(bytes(len(descriptor_for(WIDEST_SIZE))), manifest_length, sizes_before_last))
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "w+b") as raw:
            raw.write(bytes(2 * BLOCK + reserved + -reserved % BLOCK + manifest_length + -manifest_length % BLOCK))
            digests = {}
            for name, data in files:
                _write_member(raw, name, data, mtime)
                digests[name] = hashlib.sha256(data).hexdigest()
            last_header = raw.tell()
            raw.write(bytes(BLOCK))
            window = FileWindow(raw, last_header + BLOCK, writable=True)
            digests[last_name] = write_last(window)
            size = window.seek(0, os.SEEK_END)
            raw.seek(last_header + BLOCK + size)
            raw.truncate()
            raw.write(bytes(-size % BLOCK) + bytes(2 * BLOCK))
            raw.seek(last_header)
            raw.write(_header(last_name, size, mtime))
            descriptor = aligned_descriptor(padded_descriptor(descriptor_for, size), manifest_length,
                                            sizes_before_last)
            if len(descriptor) != reserved:
                raise InternalError("the descriptor does not fit the space reserved for it")
            digests = {descriptor_name: hashlib.sha256(descriptor).hexdigest(), **digests}
            manifest = manifest_text({name: digests[name] for name in names})
            raw.seek(0)
            _write_member(raw, descriptor_name, descriptor, mtime)
            _write_member(raw, manifest_name, manifest, mtime)
            digest = None
            if whole_digest:
                raw.flush()
                whole = BackgroundHash()
                whole.feed(SourceRange(raw.fileno(), 0, os.fstat(raw.fileno()).st_size))
                digest = whole.hexdigest()
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return OvaWritten(digests, digest)


def _write_member(out: BinaryIO, name: str, data: bytes, mtime: int) -> None:
    out.write(_header(name, len(data), mtime))
    out.write(data)
    out.write(bytes(-len(data) % BLOCK))


@dataclass(frozen=True)
class OvaEntry:
    name: str
    size: int
    offset: int  # of the data, in the .ova
    format: str  # "ustar", "gnu", or what else was found


@dataclass(frozen=True)
class OvaContents:
    members: tuple[OvaEntry, ...]
    descriptor: bytes
    manifest: dict[str, str]
    manifest_problems: tuple[str, ...] = ()


def read_ova(path: Path) -> OvaContents:
    """Members in order, the descriptor and the manifest (nothing verified yet)."""
    path = Path(path)
    entries = []
    try:
        with tarfile.open(path, mode="r:") as tar, open(path, "rb") as raw:
            for info in tar:
                raw.seek(info.offset)
                block = raw.read(BLOCK)
                magic = block[257:265]
                kind = "ustar" if magic == b"ustar\x0000" else "gnu" if magic == b"ustar  \x00" else "other"
                if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE) or info.pax_headers:
                    kind = "pax"
                entries.append((OvaEntry(info.name, info.size, info.offset_data, kind), info))
            if not entries:
                raise InvalidArtifact(f"{path.name}: an empty archive, not an OVA")
            descriptor_entry = next((entry for entry, _info in entries if entry.name.endswith(".ovf")), None)
            if descriptor_entry is None:
                raise InvalidArtifact(f"{path.name}: no .ovf descriptor in the archive")
            descriptor = tar.extractfile(next(info for entry, info in entries if entry is descriptor_entry)).read()
            manifest_pair = next(((entry, info) for entry, info in entries if entry.name.endswith(".mf")), None)
            manifest, problems = ({}, ())
            if manifest_pair is not None:
                manifest, problems = parse_manifest(tar.extractfile(manifest_pair[1]).read())
    except tarfile.TarError as exc:
        if "unexpected end of data" in str(exc):
            raise InvalidArtifact(f"{path.name} is truncated (the tar archive ends early); copy or download it again")
        raise InvalidArtifact(f"{path.name} is not a readable tar archive ({exc})")
    except OSError as exc:
        raise InvalidArtifact(f"{path}: cannot be read ({exc.strerror or exc})")
    return OvaContents(tuple(entry for entry, _info in entries), descriptor, manifest, problems)


def parse_manifest(data: bytes) -> tuple[dict[str, str], tuple[str, ...]]:
    digests, problems = {}, []
    for number, line in enumerate(data.decode("ascii", "replace").split("\n"), 1):
        if not line:
            continue
        match = MANIFEST_LINE.fullmatch(line)
        if match is None:
            problems.append(f"manifest line {number} is not 'SHA256(name)= hex': {line[:80]!r}")
        else:
            digests[match.group("name")] = match.group("digest")
    return digests, tuple(problems)


def verify_ova(path: Path, references: list[str] | None = None) -> list[str]:
    """Every problem found: member order and format, manifest coverage, digests (recomputed)."""
    contents = read_ova(path)
    problems = list(contents.manifest_problems)
    names = [entry.name for entry in contents.members]
    if not names[0].endswith(".ovf"):
        problems.append(f"the first member is {names[0]}, not the .ovf descriptor")
    if len(names) > 1 and not names[1].endswith(".mf") and not names[-1].endswith(".mf"):
        problems.append("the manifest (.mf) is neither right after the descriptor nor at the end")
    for entry in contents.members:
        if entry.format not in ("ustar", "gnu"):
            problems.append(f"{entry.name}: {entry.format} tar header (vSphere accepts USTAR or GNU only)")
        if "/" in entry.name:
            problems.append(f"{entry.name}: OVA members must not be in directories")
    files = [name for name in names if not name.endswith((".mf", ".cert"))]
    if references is not None:
        ordered = [name for name in files if not name.endswith(".ovf")]
        if ordered != list(references):
            problems.append(f"files are in the order {ordered}, References says {list(references)}")
    if not any(name.endswith(".mf") for name in names):
        problems.append("no manifest (.mf) in the OVA")
        return problems
    for name in files:
        if name not in contents.manifest:
            problems.append(f"{name} is not listed in the manifest")
    for name in contents.manifest:
        if name not in names:
            problems.append(f"the manifest lists {shown(name)}, which is not in the OVA")
    with open(path, "rb") as raw:
        for entry in contents.members:
            expected = contents.manifest.get(entry.name)
            if expected is None:
                continue
            if _digest(raw, entry.offset, entry.size) != expected:
                problems.append(f"{entry.name}: SHA-256 does not match the manifest (the file is corrupt)")
        raw.seek(0, os.SEEK_END)
        end = raw.tell()
        last = contents.members[-1]
        data_end = last.offset + last.size + (-last.size % BLOCK)
        raw.seek(data_end)
        trailer = raw.read(end - data_end) if end - data_end <= 64 * BLOCK else b"x"
        if trailer.count(0) != len(trailer):
            problems.append("data after the end of the archive")
    return problems


def _digest(raw: BinaryIO, offset: int, size: int) -> str:
    digest = hashlib.sha256()
    raw.seek(offset)
    remaining = size
    while remaining > 0:
        block = raw.read(min(COPY_BLOCK, remaining))
        if not block:
            break
        digest.update(block)
        remaining -= len(block)
    return digest.hexdigest()
