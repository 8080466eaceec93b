"""Read RPM package headers in pure Python (no rpm bindings), for repodata and closure checks.

File layout (RPM file format, rpm.org "RPM v4 package format"): a 96-byte
lead, a signature header padded to 8 bytes, the main header, then the
compressed payload (never read here). A header is an 16-byte preamble
(magic 8E AD E8 01, 4 reserved bytes, index count, store size), the index
entries (tag, type, offset, count; big-endian int32 each) and the store.
"""

import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidArtifact

LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
COPY_BLOCK = 1024 * 1024
MAX_HEADER = 64 * 1024 * 1024  # rpm's own limit on header size (HEADER_DATA_MAX)

# Tag numbers (rpmtag.h).
NAME, VERSION, RELEASE, EPOCH, SUMMARY, DESCRIPTION = 1000, 1001, 1002, 1003, 1004, 1005
BUILDTIME, BUILDHOST, SIZE, VENDOR, LICENSE, PACKAGER, GROUP = 1006, 1007, 1009, 1011, 1014, 1015, 1016
URL, ARCH, FILEMODES, FILEFLAGS, SOURCERPM, ARCHIVESIZE = 1020, 1022, 1030, 1037, 1044, 1046
PROVIDENAME, REQUIREFLAGS, REQUIRENAME, REQUIREVERSION = 1047, 1048, 1049, 1050
CONFLICTFLAGS, CONFLICTNAME, CONFLICTVERSION, OBSOLETENAME = 1053, 1054, 1055, 1090
PROVIDEFLAGS, PROVIDEVERSION, OBSOLETEFLAGS, OBSOLETEVERSION = 1112, 1113, 1114, 1115
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
CHANGELOGTIME, CHANGELOGNAME, CHANGELOGTEXT = 1080, 1081, 1082
LONGSIZE, LONGARCHIVESIZE = 5009, 271
SIG_PAYLOADSIZE = 1007
WEAK_DEPS = {
    "recommends": (5046, 5047, 5048),
    "suggests": (5049, 5050, 5051),
    "supplements": (5052, 5053, 5054),
    "enhances": (5055, 5056, 5057),
}

# Dependency sense flags (rpmds.h).
SENSE_LESS, SENSE_GREATER, SENSE_EQUAL = 0x02, 0x04, 0x08
SENSE_PREREQ, SENSE_PRETRANS, SENSE_SCRIPT_PRE, SENSE_SCRIPT_POST = 0x40, 0x80, 0x200, 0x400
SENSE_RPMLIB = 0x1000000
FILE_GHOST = 0x40
S_IFDIR = 0o040000

FLAG_NAMES = {
    SENSE_EQUAL: "EQ", SENSE_LESS: "LT", SENSE_GREATER: "GT",
    SENSE_LESS | SENSE_EQUAL: "LE", SENSE_GREATER | SENSE_EQUAL: "GE",
}


@dataclass(frozen=True)
class Lead:
    """The 96-byte lead; only its magic and major version are still meaningful."""

    FORMAT = struct.Struct(">4sBBhh66shh16s")

    major: int
    minor: int
    type: int
    archnum: int
    name: bytes
    osnum: int
    signature_type: int

    @classmethod
    def parse(cls, data: bytes) -> "Lead":
        if len(data) < cls.FORMAT.size:
            raise InvalidArtifact("not an RPM (shorter than the 96-byte lead)")
        magic, major, minor, kind, archnum, name, osnum, sigtype, _reserved = cls.FORMAT.unpack_from(data)
        if magic != LEAD_MAGIC:
            raise InvalidArtifact("not an RPM (bad lead magic)")
        if major < 3:
            raise InvalidArtifact(f"RPM format version {major} is too old (3 or later needed)")
        return cls(major, minor, kind, archnum, name, osnum, sigtype)

    def record(self) -> bytes:
        return self.FORMAT.pack(LEAD_MAGIC, self.major, self.minor, self.type, self.archnum, self.name,
                                self.osnum, self.signature_type, bytes(16))


@dataclass(frozen=True)
class IndexEntry:
    FORMAT = struct.Struct(">iiii")

    tag: int
    type: int
    offset: int
    count: int

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> "IndexEntry":
        return cls(*cls.FORMAT.unpack_from(data, offset))

    def record(self) -> bytes:
        return self.FORMAT.pack(self.tag, self.type, self.offset, self.count)


PREAMBLE = struct.Struct(">4s4sii")


@dataclass(frozen=True)
class Header:
    """A parsed header: its index and store, and where it sat in the file."""

    entries: tuple[IndexEntry, ...]
    store: bytes
    start: int
    end: int

    def value(self, tag: int, default=None):
        entry = next((item for item in self.entries if item.tag == tag), None)
        if entry is None:
            return default
        return _decode(entry, self.store)

    def strings(self, tag: int) -> list[str]:
        value = self.value(tag, [])
        return [value] if isinstance(value, str) else list(value)

    def ints(self, tag: int) -> list[int]:
        value = self.value(tag, [])
        return [value] if isinstance(value, int) else list(value)


def _decode(entry: IndexEntry, store: bytes):
    kind, offset, count = entry.type, entry.offset, entry.count
    if offset < 0 or offset > len(store):
        raise InvalidArtifact(f"RPM header tag {entry.tag} points outside the header store")
    if kind in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING: NUL-terminated strings
        values = []
        position = offset
        for _ in range(1 if kind == 6 else count):
            end = store.find(b"\0", position)
            if end < 0:
                raise InvalidArtifact(f"RPM header tag {entry.tag}: unterminated string")
            values.append(store[position:end].decode("utf-8", "replace"))
            position = end + 1
        return values[0] if kind == 6 else values
    sizes = {2: ("b", 1), 3: ("h", 2), 4: ("i", 4), 5: ("q", 8), 1: ("c", 1)}
    if kind in sizes:
        code, size = sizes[kind]
        if offset + size * count > len(store):
            raise InvalidArtifact(f"RPM header tag {entry.tag}: data runs past the header store")
        values = list(struct.unpack_from(f">{count}{code}", store, offset))
        if kind == 4:
            values = [value & 0xFFFFFFFF for value in values]  # rpm treats these as uint32
        return values
    if kind == 7:  # BIN
        return store[offset : offset + count]
    return None


def read_header(fp, start: int) -> Header:
    """The header at `start` of `fp`."""
    fp.seek(start)
    preamble = fp.read(PREAMBLE.size)
    if len(preamble) < PREAMBLE.size:
        raise InvalidArtifact("truncated RPM (header preamble missing)")
    magic, _reserved, count, size = PREAMBLE.unpack(preamble)
    if magic != HEADER_MAGIC:
        raise InvalidArtifact("not an RPM (bad header magic)")
    if count <= 0 or size < 0 or count * 16 + size > MAX_HEADER:
        raise InvalidArtifact("RPM header has an implausible size")
    index = fp.read(count * 16)
    store = fp.read(size)
    if len(index) < count * 16 or len(store) < size:
        raise InvalidArtifact("truncated RPM (header shorter than its index says)")
    entries = tuple(IndexEntry.parse(index, position * 16) for position in range(count))
    return Header(entries, store, start, start + PREAMBLE.size + count * 16 + size)


@dataclass(frozen=True)
class Dependency:
    """One provides/requires/... entry, in repodata's terms."""

    name: str
    flags: str | None = None  # EQ, LT, GT, LE, GE
    epoch: str | None = None
    version: str | None = None
    release: str | None = None
    pre: bool = False

    @property
    def evr(self) -> tuple[str, str, str] | None:
        if self.version is None:
            return None
        return (self.epoch or "0", self.version, self.release or "")

    def __str__(self) -> str:
        if self.flags is None:
            return self.name
        evr = self.version or ""
        if self.epoch not in (None, "0"):
            evr = f"{self.epoch}:{evr}"
        if self.release:
            evr = f"{evr}-{self.release}"
        symbol = {"EQ": "=", "LT": "<", "GT": ">", "LE": "<=", "GE": ">="}[self.flags]
        return f"{self.name} {symbol} {evr}"


def parse_evr(text: str) -> tuple[str | None, str | None, str | None]:
    """'1:2.3-4' -> ('1', '2.3', '4'); missing parts are None."""
    if not text:
        return None, None, None
    epoch = None
    if ":" in text:
        epoch, text = text.split(":", 1)
    version, release = (text.rsplit("-", 1) + [None])[:2] if "-" in text else (text, None)
    return epoch, version, release


def _dependencies(header: Header, names: int, flags_tag: int, versions: int, *, requires=False) -> tuple:
    found = []
    seen = set()
    flags_list = header.ints(flags_tag)
    version_list = header.strings(versions)
    for position, name in enumerate(header.strings(names)):
        flags = flags_list[position] if position < len(flags_list) else 0
        version = version_list[position] if position < len(version_list) else ""
        if flags & SENSE_RPMLIB or name.startswith("rpmlib("):
            continue  # rpm's own features, not packages (createrepo leaves them out too)
        sense = FLAG_NAMES.get(flags & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL)) if version else None
        epoch, ver, rel = parse_evr(version) if sense else (None, None, None)
        pre = requires and bool(flags & (SENSE_PREREQ | SENSE_PRETRANS | SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST))
        dep = Dependency(name, sense, (epoch or "0") if sense else None, ver, rel, pre)
        if dep not in seen:
            seen.add(dep)
            found.append(dep)
    return tuple(found)


@dataclass(frozen=True)
class RpmFile:
    path: str
    is_dir: bool = False
    is_ghost: bool = False


@dataclass(frozen=True)
class RpmPackage:
    """What repodata needs to know about one RPM file."""

    path: Path
    name: str
    epoch: str
    version: str
    release: str
    arch: str
    summary: str
    description: str
    packager: str
    url: str
    license: str
    vendor: str
    group: str
    buildhost: str
    sourcerpm: str
    build_time: int
    file_time: int
    package_size: int
    installed_size: int
    archive_size: int
    header_start: int
    header_end: int
    sha256: str
    provides: tuple[Dependency, ...] = ()
    requires: tuple[Dependency, ...] = ()
    conflicts: tuple[Dependency, ...] = ()
    obsoletes: tuple[Dependency, ...] = ()
    weak: dict = field(default_factory=dict)
    files: tuple[RpmFile, ...] = ()
    changelog: tuple[tuple[str, int, str], ...] = ()

    @property
    def nevra(self) -> str:
        epoch = "" if self.epoch == "0" else f"{self.epoch}:"
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"


def read_rpm(path: Path) -> RpmPackage:
    """Parse the headers of the RPM at `path` and hash the whole file (streamed)."""
    path = Path(path)
    try:
        with open(path, "rb") as fp:
            try:
                Lead.parse(fp.read(96))
                signature = read_header(fp, 96)
                main = read_header(fp, signature.end + (-signature.end % 8))
            except InvalidArtifact as exc:
                raise InvalidArtifact(f"{path.name}: {exc}")
            digest = hashlib.sha256()
            fp.seek(0)
            while block := fp.read(COPY_BLOCK):
                digest.update(block)
            stat = os.fstat(fp.fileno())
    except OSError as exc:
        raise InvalidArtifact(f"{path}: cannot be read ({exc.strerror})")
    name = main.value(NAME)
    if not isinstance(name, str) or not name:
        raise InvalidArtifact(f"{path.name}: RPM header has no package name")
    epoch = main.ints(EPOCH)
    size = main.ints(LONGSIZE) or main.ints(SIZE)
    archive = (signature.ints(SIG_PAYLOADSIZE) or main.ints(LONGARCHIVESIZE) or main.ints(ARCHIVESIZE))
    dirs = main.strings(DIRNAMES)
    modes = main.ints(FILEMODES)
    fflags = main.ints(FILEFLAGS)
    files = []
    for position, (base, index) in enumerate(zip(main.strings(BASENAMES), main.ints(DIRINDEXES))):
        mode = modes[position] & 0xFFFF if position < len(modes) else 0
        flag = fflags[position] if position < len(fflags) else 0
        files.append(RpmFile(dirs[index] + base, (mode & 0o170000) == S_IFDIR, bool(flag & FILE_GHOST)))
    changelog = tuple(zip(main.strings(CHANGELOGNAME), main.ints(CHANGELOGTIME), main.strings(CHANGELOGTEXT)))
    weak = {
        kind: _dependencies(main, tags[0], tags[2], tags[1])
        for kind, tags in WEAK_DEPS.items()
        if main.strings(tags[0])
    }
    return RpmPackage(
        path=path,
        name=name,
        epoch=str(epoch[0]) if epoch else "0",
        version=main.value(VERSION, ""),
        release=main.value(RELEASE, ""),
        arch=_text(main, ARCH) or "noarch",
        summary=_text(main, SUMMARY),
        description=_text(main, DESCRIPTION),
        packager=_text(main, PACKAGER),
        url=_text(main, URL),
        license=_text(main, LICENSE),
        vendor=_text(main, VENDOR),
        group=_text(main, GROUP),
        buildhost=_text(main, BUILDHOST),
        sourcerpm=_text(main, SOURCERPM),
        build_time=(main.ints(BUILDTIME) or [0])[0],
        file_time=int(stat.st_mtime),
        package_size=stat.st_size,
        installed_size=(size or [0])[0],
        archive_size=(archive or [0])[0],
        header_start=main.start,
        header_end=main.end,
        sha256=digest.hexdigest(),
        provides=_dependencies(main, PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION),
        requires=_dependencies(main, REQUIRENAME, REQUIREFLAGS, REQUIREVERSION, requires=True),
        conflicts=_dependencies(main, CONFLICTNAME, CONFLICTFLAGS, CONFLICTVERSION),
        obsoletes=_dependencies(main, OBSOLETENAME, OBSOLETEFLAGS, OBSOLETEVERSION),
        weak=weak,
        files=tuple(files),
        changelog=changelog,
    )


def _text(header: Header, tag: int) -> str:
    value = header.value(tag, "")
    if isinstance(value, list):
        return value[0] if value else ""
    return value or ""


def rpmvercmp(a: str, b: str) -> int:
    """Compare two version (or release) strings as rpm does (rpmvercmp.c): -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < len(b) and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        # Tilde sorts before everything, even the end of the string.
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if not (i < len(a) and a[i] == "~"):
                return 1
            if not (j < len(b) and b[j] == "~"):
                return -1
            i, j = i + 1, j + 1
            continue
        # Caret sorts after the end of the string but before anything else.
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if i >= len(a) or j >= len(b):
            break
        if a[i].isdigit():
            start_i, start_j = i, j
            while i < len(a) and a[i].isdigit():
                i += 1
            while j < len(b) and b[j].isdigit():
                j += 1
            one, two = a[start_i:i].lstrip("0"), b[start_j:j].lstrip("0")
            if start_j == j:
                return 1  # numeric segments are newer than alphabetic ones
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        else:
            start_i, start_j = i, j
            while i < len(a) and a[i].isalpha():
                i += 1
            while j < len(b) and b[j].isalpha():
                j += 1
            one, two = a[start_i:i], b[start_j:j]
            if start_j == j:
                return -1
        if one != two:
            return 1 if one > two else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def compare_evr(one: tuple[str, str, str], two: tuple[str, str, str]) -> int:
    """Compare (epoch, version, release); an empty release matches any (rpm's rule for deps)."""
    epoch = (int(one[0] or 0) > int(two[0] or 0)) - (int(one[0] or 0) < int(two[0] or 0))
    if epoch:
        return epoch
    result = rpmvercmp(one[1], two[1])
    if result or not one[2] or not two[2]:
        return result
    return rpmvercmp(one[2], two[2])
