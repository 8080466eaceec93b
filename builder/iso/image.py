"""ISO 9660 reading and remastering: the only module that imports pycdlib.

Paths are Rock Ridge paths ("/isolinux/isolinux.cfg"), the names Photon's
installer and boot loaders see. Remastering keeps everything pycdlib parsed
(both El Torito entries, boot-info-table, Rock Ridge modes and symlinks, the
volume label, the PVD dates GRUB derives `$photondisk` from) and changes only
what the build asks for. File data the build does not change is copied
from the source ISO by the kernel (see SourceReferences), in chunks, so
memory does not grow with the ISO.
"""

import contextlib
import io
import os
import re
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import pycdlib
import pycdlib.dates
import pycdlib.headervd
import pycdlib.utils
from pycdlib.pycdlibexception import PyCdlibException

from ..errors import InternalError, InvalidArtifact, InvalidInput
from ..io.hashing import BackgroundHash, fileobj_sha256
from ..io.kernelcopy import SourceRange, copy_range
from . import hybrid

SECTOR = 2048
COPY_BLOCK = 1024 * 1024

# El Torito platform ids (El Torito 1.0, section 2.1; 0xEF is UEFI).
PLATFORM_NAMES = {0: "BIOS", 1: "PowerPC", 2: "Mac", 0xEF: "UEFI"}


@dataclass(frozen=True)
class BootEntry:
    platform: str
    path: str | None  # Rock Ridge path of the boot image, None if it is not a file
    boot_info_table: bool


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mode: int
    symlink_target: str | None = None


@dataclass(frozen=True)
class NewFile:
    """A file to put on the ISO, replacing any file at that path.

    `source` is bytes (small files) or a path whose data is copied while the
    ISO is written.
    """

    path: str
    source: bytes | Path
    mode: int | None = None  # None: the replaced file's mode, or read-only for a new one
    # A byte the file may end with any number of (b" " after JSON): remaster may append a
    # sector of it to keep the unchanged files page-aligned (see _align_copied_data).
    pad_with: bytes = b""

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size


@dataclass(frozen=True)
class NewSymlink:
    path: str
    target: str


class IsoImage:
    """A read-only view of an ISO, for detection, inspection and remastering."""

    def __init__(self, path: Path, fileobj: BinaryIO | None = None):
        """Open the ISO at `path`, or read it from `fileobj` (a seekable view, e.g. inside an OVA)."""
        self.path = Path(path)
        if fileobj is not None:
            self._fp = fileobj
        else:
            try:
                self._fp = open(self.path, "rb")
            except FileNotFoundError:
                raise InvalidInput(f"{self.path}: no such file; pass the path of a Photon OS installer ISO")
            except IsADirectoryError:
                raise InvalidInput(f"{self.path} is a directory; pass the path of a Photon OS installer ISO")
            except OSError as exc:
                raise InvalidInput(f"{self.path}: cannot be read ({exc.strerror})")
        self._iso = pycdlib.PyCdlib()
        try:
            _check_volume_size(self._fp, self.path)
        except InvalidArtifact:
            self._fp.close()
            raise
        try:
            self._iso.open_fp(self._fp)
        except (PyCdlibException, struct.error, ValueError, IndexError, EOFError) as exc:
            self._fp.close()
            raise InvalidArtifact(f"{self.path} is not a readable ISO 9660 image ({exc})")
        except OSError as exc:
            self._fp.close()
            raise InvalidInput(f"{self.path}: cannot be read ({exc.strerror or exc})")

        if not self._iso.has_rock_ridge():
            self.close()
            raise InvalidArtifact(
                f"{self.path} has no Rock Ridge names; Photon OS ISOs always do, so this is not a Photon installer ISO"
            )
        self._files: dict[str, FileEntry] | None = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._iso.close()
        self._fp.close()

    def __enter__(self) -> "IsoImage":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self._fp.seek(0, os.SEEK_END)

    @property
    def volume_label(self) -> str:
        return self._iso.pvd.volume_identifier.decode("ascii", "replace").strip()

    @property
    def interchange_level(self) -> int:
        return self._iso.interchange_level

    def files(self) -> dict[str, FileEntry]:
        """Every file and symlink on the ISO by Rock Ridge path (directories left out)."""
        if self._files is None:
            found = {}
            for dirpath, _dirs, names in self._iso.walk(rr_path="/"):
                for name in names:
                    path = (dirpath.rstrip("/") + "/" + name) if dirpath != "/" else "/" + name
                    record = self._iso.get_record(rr_path=path)
                    target = None
                    if record.rock_ridge is not None and record.rock_ridge.is_symlink():
                        target = record.rock_ridge.symlink_path().decode("utf-8", "replace")
                    mode = record.rock_ridge.get_file_mode() if record.rock_ridge is not None else 0o100444
                    found[path] = FileEntry(path, record.get_data_length(), mode, target)
            self._files = found
        return self._files

    def exists(self, path: str) -> bool:
        return path in self.files() or self.is_dir(path)

    def is_dir(self, path: str) -> bool:
        try:
            return self._iso.get_record(rr_path=path).is_dir()
        except PyCdlibException:
            return False

    def read(self, path: str, limit: int = 64 * 1024 * 1024) -> bytes:
        """The bytes of a (small) file; `limit` guards against reading a huge one by mistake."""
        entry = self.files().get(path)
        if entry is None:
            raise InvalidArtifact(f"{self.path}: {path} is missing")
        if entry.size > limit:
            raise InternalError(f"{path} is {entry.size} bytes; stream it instead of reading it whole")
        out = io.BytesIO()
        try:
            self._iso.get_file_from_iso_fp(out, rr_path=path)
        except (PyCdlibException, OSError) as exc:
            raise InvalidArtifact(f"{self.path}: cannot read {path} ({exc})")
        return out.getvalue()

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        """A streaming reader for a file on the ISO."""
        try:
            with self._iso.open_file_from_iso(rr_path=path) as stream:
                yield stream
        except PyCdlibException as exc:
            raise InvalidArtifact(f"{self.path}: cannot read {path} ({exc})")

    def boot_entries(self) -> list[BootEntry]:
        """The El Torito entries, initial entry first, with the files they boot."""
        catalog = self._iso.eltorito_boot_catalog
        if catalog is None:
            return []
        by_extent = {}
        for entry in self.files().values():
            if entry.symlink_target is None:
                record = self._iso.get_record(rr_path=entry.path)
                by_extent.setdefault(record.extent_location(), entry.path)
        found = [(catalog.validation_entry.platform_id, catalog.initial_entry)]
        for section in catalog.sections:
            found.extend((section.platform_id, entry) for entry in section.section_entries)
        return [
            BootEntry(
                PLATFORM_NAMES.get(platform, hex(platform)),
                by_extent.get(entry.get_rba()),
                getattr(getattr(entry, "inode", None), "boot_info_table", None) is not None,
            )
            for platform, entry in found
        ]

    def system_area(self) -> bytes:
        """The first 16 sectors, where an isohybrid MBR/GPT lives."""
        self._fp.seek(0)
        return self._fp.read(16 * SECTOR)

    def has_isohybrid(self) -> bool:
        return self._iso.isohybrid_mbr is not None


def _check_volume_size(fp: BinaryIO, path: Path) -> None:
    """Refuse a truncated image up front: its PVD (ECMA-119 8.4) says how long it must be."""
    size = fp.seek(0, os.SEEK_END)
    fp.seek(16 * SECTOR)
    pvd = fp.read(SECTOR)
    if len(pvd) < SECTOR or pvd[0] != 1 or pvd[1:6] != b"CD001":
        return  # not ISO 9660 at all: pycdlib says so in its own words
    declared = struct.unpack_from("<I", pvd, 80)[0] * struct.unpack_from("<H", pvd, 128)[0]
    if size < declared:
        raise InvalidArtifact(
            f"{path} is truncated: {size} bytes, but its volume descriptor says {declared}; "
            "download it again and check its checksum"
        )


def remaster(
    image: IsoImage,
    out: Path | BinaryIO,
    new_files: list[NewFile],
    *,
    remove: list[str] = (),
    symlinks: list[NewSymlink] = (),
    epoch: int,
    progress: Callable[[int, int], None] | None = None,
    digest: bool = True,
    deferred: bool = False,
) -> str | Callable[[], str] | None:
    """Write `image` with `remove`d paths gone and `new_files`/`symlinks` added.

    `out` is a path, or a readable and writable file object positioned
    anywhere (the image starts at its offset 0: an OVA member written in
    place). Returns the SHA-256 of the written image, or None when `digest`
    is false (one SHA-256 pass less); with `deferred`, a callable that waits
    for it, so the caller can copy the image while it is being hashed (the
    source ISO must stay open until then). The caller owns `out` (and its
    clean-up on failure).
    """
    iso = image._iso
    handles: list[BinaryIO] = []
    try:
        with _fixed_clock(epoch):
            for path in remove:
                _remove(iso, image, path)
            for new in new_files:
                _replace(iso, image, new, handles)
            for link in symlinks:
                _add_symlink(iso, image, link)
            _align_copied_data(iso, image, new_files, handles)
        image._files = None
        callback = (lambda done, total, _opaque: progress(done, total)) if progress else None
        with contextlib.ExitStack() as stack:
            raw = out if not isinstance(out, (str, Path)) else stack.enter_context(open(out, "w+b"))
            writer = HashingWriter(raw, hashing=digest)
            _write_in_extent_order(iso)
            try:
                # pycdlib stamps the volume modification date at write time; GRUB derives
                # the ISO's UUID from it, so it must be the build's fixed time too.
                with _fixed_clock(epoch), _source_by_reference(iso, image._fp):
                    iso.write_fp(writer, blocksize=COPY_BLOCK, progress_cb=callback)
            except PyCdlibException as exc:
                raise InternalError(f"pycdlib could not write the image: {exc}")
            writer.finish()
            raw.flush()
            if image.has_isohybrid():
                hybrid.repair(raw)
                writer.invalidate()
            if writer.valid:
                return writer.hexdigest if deferred else writer.hexdigest()
            if not digest:
                return None
            known = fileobj_sha256(raw)
            return (lambda: known) if deferred else known
    finally:
        for handle in handles:
            handle.close()


class SourceReferences:
    """The source ISO as pycdlib's write_fp() reads file data from it.

    A large read returns a SourceRange (where the bytes are) instead of the
    bytes; pycdlib hands it on to HashingWriter.write() unopened, which has
    the kernel copy it and the hash worker read it. Small reads return bytes.
    """

    SMALLEST = 64 * 1024

    def __init__(self, fp: BinaryIO, fd: int):
        self._fp, self._fd = fp, fd
        self._size = os.fstat(fd).st_size
        self._pos = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        origin = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, origin + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes | SourceRange:
        available = max(0, self._size - self._pos)
        size = available if size is None or size < 0 else min(size, available)
        if size < self.SMALLEST:
            self._fp.seek(self._pos)
            data = self._fp.read(size)
        else:
            data = SourceRange(self._fd, self._pos, size)
        self._pos += len(data)
        return data


@contextlib.contextmanager
def _source_by_reference(iso: pycdlib.PyCdlib, source: BinaryIO):
    """While writing, let pycdlib read the unchanged files' data from `source` as SourceRanges."""
    inodes = getattr(iso, "inodes", None)
    try:
        fd = source.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError, io.UnsupportedOperation):
        regular = False
    if not regular or not isinstance(inodes, list):
        yield  # another pycdlib layout, or a source without a file descriptor: bytes as usual
        return
    references = SourceReferences(source, fd)
    swapped = [ino for ino in inodes if getattr(ino, "data_fp", None) is source]
    for ino in swapped:
        ino.data_fp = references
    try:
        yield
    finally:
        for ino in swapped:
            ino.data_fp = source


def _kernel_target(raw: BinaryIO) -> tuple[int, int] | None:
    """(file descriptor, offset of the image in it) when `raw` is a regular file the kernel can copy into."""
    try:
        fd, base = raw.kernel_target() if hasattr(raw, "kernel_target") else (raw.fileno(), 0)
        return (fd, base) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


class HashingWriter(io.RawIOBase):
    """Hashes what pycdlib writes, on another core, without reading the image back.

    pycdlib writes the volume's metadata out of order near the start of the
    image, then the file data in extent order (see _write_in_extent_order),
    seeking forward over gaps (zeros in a new file), and a few patches
    shortly behind its position. So the last LAG bytes stay in memory as
    chunks, where a late write can still patch them; older bytes go to the
    hash. A write behind that window makes the digest invalid, and the
    caller re-reads the file instead.

    A SourceRange (unchanged file data, see SourceReferences) is copied by
    the kernel and sits in the window by reference; the hash worker reads it.
    """

    LAG = 4 * 1024 * 1024
    CHUNK = 1024 * 1024  # small writes are merged into chunks of about this size

    def __init__(self, raw: BinaryIO, hashing: bool = True):
        self._raw = raw
        self._target = _kernel_target(raw)
        self._hash = BackgroundHash() if hashing else None
        self._hashed = 0  # bytes [0, _hashed) went to the hash
        self._chunks: list[tuple[int, bytearray | bytes | SourceRange]] = []  # contiguous from _hashed
        self._end = 0  # end of the last chunk
        self._pos = 0
        self.valid = hashing  # without hashing it is a plain writer that lets the kernel copy
        self.mode = "wb"

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, data) -> int:
        if isinstance(data, SourceRange) and (self._target is None or self._pos < self._end):
            data = data.read()  # no file to copy into, or it patches bytes still in the window
        if self.valid:
            self._account(self._pos, data)
        if isinstance(data, SourceRange):
            fd, base = self._target
            self._raw.flush()
            copy_range(data, fd, base + self._pos)
            self._pos = self._raw.seek(self._pos + len(data))
            return len(data)
        written = self._raw.write(data)
        self._pos += written
        return written

    def _account(self, position: int, data) -> None:
        if position < self._hashed:
            self.invalidate()
            return
        overlap = min(len(data), max(0, self._end - position))
        if overlap:
            self._patch(position, memoryview(data)[:overlap])
            position, data = position + overlap, memoryview(data)[overlap:]
        if not len(data):
            return
        gap = position - self._end
        if gap > self.LAG:  # hash most of a big hole now; keep its last LAG bytes patchable
            self._flush(self._end)
            self._feed_zeros(gap - self.LAG)
            self._hashed = self._end = position - self.LAG
            self._append(bytes(self.LAG))
        elif gap:
            self._append(bytes(gap))
        self._append(data)
        self._flush(self._end - self.LAG)

    def _append(self, data) -> None:
        last = self._chunks[-1][1] if self._chunks else None
        if isinstance(data, SourceRange):
            self._chunks.append((self._end, data))
        elif isinstance(last, bytearray) and len(last) + len(data) <= self.CHUNK:
            last += data
        elif len(data) < self.CHUNK:
            self._chunks.append((self._end, bytearray(data)))
        else:
            self._chunks.append((self._end, data if isinstance(data, bytes) else bytes(data)))
        self._end += len(data)

    def _patch(self, position: int, data: memoryview) -> None:
        """Overwrite bytes still in the window (walking back: patches land near the end)."""
        end = position + len(data)
        for index in range(len(self._chunks) - 1, -1, -1):
            start, chunk = self._chunks[index]
            if start >= end:
                continue
            stop = start + len(chunk)
            if stop <= position:
                break
            if isinstance(chunk, (bytes, SourceRange)):
                chunk = bytearray(chunk if isinstance(chunk, bytes) else chunk.read())
                self._chunks[index] = (start, chunk)
            low, high = max(start, position), min(stop, end)
            chunk[low - start : high - start] = data[low - position : high - position]

    def _flush(self, below: int) -> None:
        """Hash the chunks that end at or before `below`."""
        flushed = 0
        for start, chunk in self._chunks:
            if start + len(chunk) > below:
                break
            self._hash.feed(bytes(chunk) if isinstance(chunk, bytearray) else chunk)
            self._hashed = start + len(chunk)
            flushed += 1
        if flushed:
            del self._chunks[:flushed]

    def _feed_zeros(self, count: int) -> None:
        zeros = bytes(min(count, COPY_BLOCK))
        while count > 0:
            step = min(count, COPY_BLOCK)
            self._hash.feed(zeros if step == len(zeros) else zeros[:step])
            count -= step

    def finish(self) -> None:
        """Account for the end of the file (a short image, or a tail pycdlib only seeked over)."""
        end = self._raw.seek(0, os.SEEK_END)
        if not self.valid:
            return
        self._flush(self._end)
        if end > self._hashed:
            self._feed_zeros(end - self._hashed)
            self._hashed = end
        elif end < self._hashed:
            self.invalidate()

    def invalidate(self) -> None:
        if self.valid:
            self.valid = False
            self._chunks.clear()
            self._hash.abandon()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _align_copied_data(iso, image: IsoImage, new_files: list[NewFile], handles: list) -> None:
    """Keep most unchanged file data at the same offset within a 4 KiB page as in the source.

    Sectors are 2 KiB, so a change of an odd number of sectors before the
    bulk of the data (the RPMs) leaves every byte of it half a page off its
    place in the source, and the kernel's copy is then about a third slower.
    A sector of padding at the end of a file that allows it restores the
    alignment.
    """
    movable = next((new for new in new_files if new.pad_with and isinstance(new.source, bytes)), None)
    if movable is None or not hasattr(iso, "_reshuffle_extents") or not isinstance(getattr(iso, "inodes", None), list):
        return
    iso._reshuffle_extents()
    if _misalignment(iso, image._fp) <= 0:
        return
    padded = NewFile(movable.path, movable.source + movable.pad_with * SECTOR, movable.mode)
    _replace(iso, image, padded, handles)
    iso._reshuffle_extents()
    if _misalignment(iso, image._fp) > 0:  # the padding moved nothing that mattered: undo it
        _replace(iso, image, movable, handles)


def _misalignment(iso, source: BinaryIO) -> int:
    """Bytes of source data that would be copied to a different offset within a page, less those that would not."""
    balance = 0
    for ino in iso.inodes:
        if getattr(ino, "data_fp", None) is source and ino.get_data_length() >= SourceReferences.SMALLEST:
            odd = (ino.extent_location() - ino.orig_extent_loc) % 2
            balance += ino.get_data_length() if odd else -ino.get_data_length()
    return balance


def _write_in_extent_order(iso: pycdlib.PyCdlib) -> None:
    """Make pycdlib write file data front to back.

    write_fp() copies file data in the order of its inode list (directory
    order), which on a large image jumps back and forth; sorted by extent,
    every write lands at or after the previous one, so HashingWriter can hash
    as it goes and the disk sees one sequential stream.
    """
    inodes = getattr(iso, "inodes", None)
    if not isinstance(inodes, list) or not hasattr(iso, "_reshuffle_extents"):
        return  # another pycdlib layout: still correct, the output is hashed by reading it back
    if getattr(iso, "_needs_reshuffle", True):
        iso._reshuffle_extents()
    inodes.sort(key=lambda ino: ino.extent_location())


@contextlib.contextmanager
def _fixed_clock(epoch: int):
    """pycdlib stamps new records with time.time() in local time; make that one fixed UTC time."""

    class Clock:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def time():
            return float(epoch)

        @staticmethod
        def localtime(seconds=None):
            return time.gmtime(epoch if seconds is None else seconds)

    modules = [pycdlib.pycdlib, pycdlib.dates, pycdlib.utils, pycdlib.headervd]
    saved = [module.time for module in modules]
    try:
        for module in modules:
            module.time = Clock()
        yield
    finally:
        for module, original in zip(modules, saved):
            module.time = original


def _remove(iso, image: IsoImage, path: str) -> None:
    entry = image.files().get(path)
    if entry is None:
        return
    record = iso.get_record(rr_path=path)
    iso_path = iso.full_path_from_dirrecord(record)
    try:
        if entry.symlink_target is not None:
            iso.rm_symlink(iso_path=iso_path)
        else:
            iso.rm_file(iso_path=iso_path)
    except PyCdlibException as exc:
        raise InternalError(f"cannot remove {path} from the image: {exc}")
    image._files = None


def _replace(iso, image: IsoImage, new: NewFile, handles: list) -> None:
    previous = image.files().get(new.path)
    mode = new.mode or (previous.mode if previous is not None and previous.symlink_target is None else 0o100444)
    _remove(iso, image, new.path)
    parent, name = new.path.rsplit("/", 1)
    parent_iso = _ensure_dir(iso, image, parent or "/")
    iso_name = _unique_iso_name(iso, parent_iso, name, is_dir=False)
    if isinstance(new.source, bytes):
        fp: BinaryIO = io.BytesIO(new.source)
    else:
        try:
            fp = open(new.source, "rb")
        except OSError as exc:
            raise InvalidInput(f"{new.source}: cannot be read ({exc.strerror}); check the file and its permissions")
    handles.append(fp)
    try:
        iso.add_fp(fp, new.size, iso_path=_join(parent_iso, iso_name) + ";1", rr_name=name, file_mode=mode)
    except PyCdlibException as exc:
        raise InternalError(f"cannot add {new.path} to the image: {exc}")
    image._files = None


def _add_symlink(iso, image: IsoImage, link: NewSymlink) -> None:
    _remove(iso, image, link.path)
    parent, name = link.path.rsplit("/", 1)
    parent_iso = _ensure_dir(iso, image, parent or "/")
    iso_name = _unique_iso_name(iso, parent_iso, name, is_dir=False)
    try:
        iso.add_symlink(symlink_path=_join(parent_iso, iso_name) + ";1", rr_symlink_name=name, rr_path=link.target)
    except PyCdlibException as exc:
        raise InternalError(f"cannot add the symlink {link.path}: {exc}")
    image._files = None


def _ensure_dir(iso, image: IsoImage, rr_dir: str) -> str:
    """The ISO 9660 path of Rock Ridge directory `rr_dir`, creating it (and parents) if needed."""
    if rr_dir == "/":
        return "/"
    try:
        record = iso.get_record(rr_path=rr_dir)
        if record.is_dir():
            return iso.full_path_from_dirrecord(record)
        raise InvalidArtifact(f"{image.path}: {rr_dir} is a file, expected a directory")
    except PyCdlibException:
        pass
    parent, name = rr_dir.rsplit("/", 1)
    parent_iso = _ensure_dir(iso, image, parent or "/")
    iso_name = _unique_iso_name(iso, parent_iso, name, is_dir=True)
    iso.add_directory(iso_path=_join(parent_iso, iso_name), rr_name=name, file_mode=0o040555)
    return _join(parent_iso, iso_name)


def _join(parent: str, name: str) -> str:
    return "/" + name if parent == "/" else parent + "/" + name


def _unique_iso_name(iso, parent_iso: str, rr_name: str, *, is_dir: bool) -> str:
    """An ISO 9660 name for `rr_name` that the directory does not have yet.

    Level 1 allows 8.3 names of [A-Z0-9_]; higher levels up to 31 characters
    (ECMA-119 7.5, 7.6 and 10.1).
    """
    taken = set()
    for child in iso.list_children(iso_path=parent_iso):
        if child is None or child.is_dot() or child.is_dotdot():
            continue
        taken.add(child.file_identifier().decode("ascii", "replace").split(";")[0])
    level = iso.interchange_level
    clean = re.sub(r"[^A-Z0-9_.]", "_", rr_name.upper())
    if is_dir:
        stem, ext = clean.replace(".", "_"), ""
        limit_stem, limit_ext = (8, 0) if level == 1 else (31, 0)
    else:
        stem, _, ext = clean.rpartition(".") if "." in clean else (clean, "", "")
        stem = stem.replace(".", "_") or "_"
        limit_stem, limit_ext = (8, 3) if level == 1 else (30 - min(len(ext), 10), 10)
    ext = ext[:limit_ext]
    for counter in range(10000):
        suffix = "" if counter == 0 else str(counter)
        candidate = stem[: limit_stem - len(suffix)] + suffix
        name = candidate + ("." + ext if not is_dir else "")
        if name not in taken and (name + "." if not is_dir and not ext else name) not in taken:
            return name if is_dir or ext else name + "."
    raise InternalError(f"no free ISO 9660 name for {rr_name} in {parent_iso}")


def write_env_iso(path: Path, environment: bytes, *, label: str = "OVF ENV") -> None:
    """A CD holding ovf-env.xml as vSphere's ISO transport delivers it (root directory, ISO 9660 name
    OVF_ENV.XML, Joliet and Rock Ridge name ovf-env.xml): for `build-appliance verify`."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label.replace(" ", "_"))
    iso.add_fp(io.BytesIO(environment), len(environment), "/OVF_ENV.XML;1", rr_name="ovf-env.xml",
               joliet_path="/ovf-env.xml")
    temporary = Path(str(path) + ".partial")
    try:
        iso.write(str(temporary))
        os.replace(temporary, path)
    finally:
        iso.close()
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
