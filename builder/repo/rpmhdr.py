"""Read RPM package headers in pure Python (no rpm bindings), for repodata and the closure check.

File layout (rpm.org "RPM v4 package format", docs/manual/format.md; lib/rpmlead.c, lib/header.c):

    lead       96 bytes; only its magic, major version and signature type still matter
    signature  a header structure, padded with zeros to a multiple of 8 bytes
    header     the main header, with every tag repodata needs
    payload    the compressed archive; never read here

A header structure is a 16-byte intro (magic 8E AD E8, version 01, 4 reserved
bytes, index count, store size), `count` 16-byte index entries (tag, type,
offset, count) and the store the entries point into. All numbers are
big-endian and unsigned.
"""

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Union

from ..errors import InvalidArtifact

LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8"
SIGTYPE_HEADERSIG = 5  # the only signature type rpm accepts (rpmlead.c)
COPY_BLOCK = 1024 * 1024
# lib/header_internal.h: hdrchkTags (at most 65535 tags) and HEADER_DATA_MAX (256 MiB store).
MAX_TAGS = 0xFFFF
MAX_STORE = 0x0FFFFFFF

# Tag data types (rpmtag.h rpmTagType) and their alignment in the store (header.c typeAlign).
NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = range(10)
_ALIGN = {INT16: 2, INT32: 4, INT64: 8}
_INTS = {CHAR: ("B", 1), INT8: ("B", 1), INT16: ("H", 2), INT32: ("I", 4), INT64: ("Q", 8)}

# Main header tags (rpmtag.h).
NAME, VERSION, RELEASE, EPOCH, SUMMARY, DESCRIPTION = 1000, 1001, 1002, 1003, 1004, 1005
BUILDTIME, BUILDHOST, SIZE, VENDOR, LICENSE, PACKAGER, GROUP = 1006, 1007, 1009, 1011, 1014, 1015, 1016
URL, ARCH, OLDFILENAMES, FILEMODES, FILEFLAGS = 1020, 1022, 1027, 1030, 1037
SOURCERPM, ARCHIVESIZE, SOURCEPACKAGE = 1044, 1046, 1106
PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION = 1047, 1112, 1113
REQUIRENAME, REQUIREFLAGS, REQUIREVERSION = 1049, 1048, 1050
CONFLICTNAME, CONFLICTFLAGS, CONFLICTVERSION = 1054, 1053, 1055
OBSOLETENAME, OBSOLETEFLAGS, OBSOLETEVERSION = 1090, 1114, 1115
RECOMMENDNAME, RECOMMENDVERSION, RECOMMENDFLAGS = 5046, 5047, 5048
SUGGESTNAME, SUGGESTVERSION, SUGGESTFLAGS = 5049, 5050, 5051
SUPPLEMENTNAME, SUPPLEMENTVERSION, SUPPLEMENTFLAGS = 5052, 5053, 5054
ENHANCENAME, ENHANCEVERSION, ENHANCEFLAGS = 5055, 5056, 5057
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
CHANGELOGTIME, CHANGELOGNAME, CHANGELOGTEXT = 1080, 1081, 1082
LONGARCHIVESIZE, LONGSIZE = 271, 5009
# Signature header tags (rpmtag.h rpmSigTag); rpm merges them into the main header when it lacks them.
SIG_PAYLOADSIZE, SIG_LONGARCHIVESIZE = 1007, 271

# Dependency sense flags (rpmds.h rpmsenseFlags_e).
SENSE_LESS, SENSE_GREATER, SENSE_EQUAL = 0x02, 0x04, 0x08
SENSE_POSTTRANS, SENSE_PREREQ, SENSE_PRETRANS = 0x20, 0x40, 0x80
SENSE_SCRIPT_PRE, SENSE_SCRIPT_POST = 0x200, 0x400
SENSE_RPMLIB = 0x1000000
# createrepo_c parsehdr.c marks a Requires pre="1" for these (the two trans bits since 2024, commit f02f17a).
SENSE_PRE = SENSE_PREREQ | SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST | SENSE_PRETRANS | SENSE_POSTTRANS
FILE_GHOST = 0x40  # rpmfiles.h RPMFILE_GHOST
S_IFMT, S_IFDIR = 0o170000, 0o040000

# createrepo_c misc.c cr_flag_to_str: only these five comparisons exist in repodata.
FLAG_NAMES = {SENSE_LESS: "LT", SENSE_GREATER: "GT", SENSE_EQUAL: "EQ",
              SENSE_LESS | SENSE_EQUAL: "LE", SENSE_GREATER | SENSE_EQUAL: "GE"}
FLAG_BITS = {name: bits for bits, name in FLAG_NAMES.items()}
FLAG_SYMBOLS = {"EQ": "=", "LT": "<", "GT": ">", "LE": "<=", "GE": ">="}

TagValue = Union[str, list[str], list[int], bytes, None]


# ---------------------------------------------------------------- on-disk structures

@dataclass(frozen=True)
class Lead:
    """The 96-byte lead (rpmlead.c struct rpmlead_s); rpm reads only its magic, major and signature type."""

    FORMAT: ClassVar[struct.Struct] = struct.Struct(">4sBBhh66shh16s")

    major: int = 3
    minor: int = 0
    type: int = 0  # 0 binary, 1 source
    archnum: int = 1
    name: bytes = b""  # NUL-padded to 66 bytes on disk; kept here without the padding
    osnum: int = 1
    signature_type: int = SIGTYPE_HEADERSIG
    reserved: bytes = bytes(16)

    @classmethod
    def parse(cls, data: bytes) -> "Lead":
        """The lead at the start of `data`; InvalidArtifact where rpm itself would refuse it."""
        if not data:
            raise InvalidArtifact("not an RPM (empty file)")
        if len(data) < cls.FORMAT.size:
            raise InvalidArtifact(f"truncated RPM (only {len(data)} bytes; the lead alone is 96)")
        magic, major, minor, kind, archnum, name, osnum, sigtype, reserved = cls.FORMAT.unpack_from(data)
        if magic != LEAD_MAGIC:
            raise InvalidArtifact("not an RPM (bad lead magic)")
        # rpmlead.c rpmLeadCheck: signature type 5 (header-style) and major version 3 or 4 only.
        if sigtype != SIGTYPE_HEADERSIG:
            raise InvalidArtifact(f"unsupported RPM signature type {sigtype} in the lead (5 expected)")
        if not 3 <= major <= 4:
            raise InvalidArtifact(f"unsupported RPM format version {major} (3 or 4 expected)")
        return cls(major, minor, kind, archnum, name.rstrip(b"\0"), osnum, sigtype, reserved)

    def record(self) -> bytes:
        """The 96 bytes of this lead."""
        return self.FORMAT.pack(LEAD_MAGIC, self.major, self.minor, self.type, self.archnum, self.name,
                                self.osnum, self.signature_type, self.reserved)


@dataclass(frozen=True)
class HeaderIntro:
    """The 16 bytes that open a header structure: magic, version, reserved, index count, store size."""

    FORMAT: ClassVar[struct.Struct] = struct.Struct(">3sB4sII")

    index_count: int
    store_size: int
    version: int = 1
    reserved: bytes = bytes(4)

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> "HeaderIntro":
        """The intro at `offset` of `data`, with rpm's sanity limits applied."""
        if len(data) - offset < cls.FORMAT.size:
            raise InvalidArtifact("truncated RPM (a header ends inside its 16-byte intro)")
        magic, version, reserved, count, size = cls.FORMAT.unpack_from(data, offset)
        # header.c: magic and version are 8E AD E8 01; the reserved bytes are not checked here.
        if magic != HEADER_MAGIC or version != 1:
            raise InvalidArtifact("not an RPM (bad header magic)")
        # header_internal.h hdrchkTags / hdrchkData; rpm also wants at least one tag.
        if not 1 <= count <= MAX_TAGS or size > MAX_STORE:
            raise InvalidArtifact(f"RPM header has an implausible size ({count} tags, {size} bytes of data)")
        return cls(count, size, version, reserved)

    def record(self) -> bytes:
        """The 16 bytes of this intro."""
        return self.FORMAT.pack(HEADER_MAGIC, self.version, self.reserved, self.index_count, self.store_size)

    @property
    def length(self) -> int:
        """Bytes from the start of the intro to the end of the store."""
        return self.FORMAT.size + 16 * self.index_count + self.store_size


@dataclass(frozen=True)
class IndexEntry:
    """One 16-byte index entry: which tag, its data type, where in the store, how many values."""

    FORMAT: ClassVar[struct.Struct] = struct.Struct(">IIiI")

    tag: int
    type: int
    offset: int
    count: int

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> "IndexEntry":
        """The entry at `offset` of `data`."""
        return cls(*cls.FORMAT.unpack_from(data, offset))

    def record(self) -> bytes:
        """The 16 bytes of this entry."""
        return self.FORMAT.pack(self.tag, self.type, self.offset, self.count)


@dataclass(frozen=True)
class Header:
    """A header structure (signature or main): its index, its store, and where it starts in the file."""

    entries: tuple[IndexEntry, ...]
    store: bytes
    start: int = 0

    @classmethod
    def parse(cls, data: bytes, start: int = 0) -> "Header":
        """The header whose intro opens `data`; `start` is its offset in the file (for header-range)."""
        intro = HeaderIntro.parse(data)
        if len(data) < intro.length:
            raise InvalidArtifact("truncated RPM (a header is shorter than its index says)")
        base = HeaderIntro.FORMAT.size
        entries = tuple(IndexEntry.parse(data, base + 16 * position) for position in range(intro.index_count))
        store = bytes(data[base + 16 * intro.index_count : intro.length])
        for entry in entries:
            # header.c hdrblobVerifyInfo: a known type, an aligned offset, an offset inside the store.
            if entry.type > I18NSTRING:
                raise InvalidArtifact(f"RPM header tag {entry.tag} has unknown data type {entry.type}")
            if entry.offset % _ALIGN.get(entry.type, 1):
                raise InvalidArtifact(f"RPM header tag {entry.tag} is misaligned in the header store")
            if not 0 <= entry.offset <= len(store):
                raise InvalidArtifact(f"RPM header tag {entry.tag} points outside the header store")
        return cls(entries, store, start)

    def record(self) -> bytes:
        """The bytes of this header: intro, index entries, store."""
        intro = HeaderIntro(len(self.entries), len(self.store))
        return intro.record() + b"".join(entry.record() for entry in self.entries) + self.store

    @property
    def end(self) -> int:
        """The file offset just past this header."""
        return self.start + HeaderIntro.FORMAT.size + 16 * len(self.entries) + len(self.store)

    def value(self, tag: int) -> TagValue:
        """The decoded value of `tag` (str, list of str or int, or bytes); None if absent."""
        entry = next((item for item in self.entries if item.tag == tag), None)
        return None if entry is None else _decode(entry, self.store)

    def string(self, tag: int) -> str:
        """A STRING or I18NSTRING tag ('' if absent); of an I18NSTRING, the first (C locale) value."""
        value = self.value(tag)
        if isinstance(value, list):
            return str(value[0]) if value else ""
        return value if isinstance(value, str) else ""

    def strings(self, tag: int) -> list[str]:
        """A STRING_ARRAY tag as a list ([] if absent)."""
        value = self.value(tag)
        if isinstance(value, str):
            return [value]
        return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

    def ints(self, tag: int) -> list[int]:
        """An integer tag as a list ([] if absent)."""
        value = self.value(tag)
        return [item for item in value if isinstance(item, int)] if isinstance(value, list) else []


def _text(raw: bytes) -> str:
    # Headers should hold UTF-8; old packages carry Latin-1, which createrepo_c converts too (xml_dump.c).
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _decode(entry: IndexEntry, store: bytes) -> TagValue:
    kind, offset, count = entry.type, entry.offset, entry.count
    if kind in (STRING, STRING_ARRAY, I18NSTRING):  # NUL-terminated strings, one after another
        values = []
        position = offset
        for _ in range(1 if kind == STRING else count):
            end = store.find(b"\0", position)
            if end < 0:
                raise InvalidArtifact(f"RPM header tag {entry.tag}: unterminated string")
            values.append(_text(store[position:end]))
            position = end + 1
        return values[0] if kind == STRING else values
    if kind in _INTS:
        code, size = _INTS[kind]
        if offset + size * count > len(store):
            raise InvalidArtifact(f"RPM header tag {entry.tag}: data runs past the header store")
        return list(struct.unpack_from(f">{count}{code}", store, offset))
    if kind == BIN:
        if offset + count > len(store):
            raise InvalidArtifact(f"RPM header tag {entry.tag}: data runs past the header store")
        return store[offset : offset + count]
    return None


def read_header(fp: BinaryIO, start: int) -> Header:
    """The header structure at file offset `start` of `fp`."""
    fp.seek(start)
    head = fp.read(HeaderIntro.FORMAT.size)
    intro = HeaderIntro.parse(head)
    rest = fp.read(intro.length - len(head))
    return Header.parse(head + rest, start)


# ---------------------------------------------------------------- package facts

@dataclass(frozen=True)
class Dependency:
    """One provides/requires/... entry in repodata's terms (flags EQ/LT/GT/LE/GE, or None if unversioned)."""

    name: str
    flags: str | None = None
    epoch: str | None = None
    version: str | None = None
    release: str | None = None
    pre: bool = False

    @property
    def evr(self) -> tuple[str, str, str] | None:
        """(epoch, version, release) of a versioned dependency; None for an unversioned one."""
        if self.flags is None or self.version is None:
            return None
        return (self.epoch or "0", self.version, self.release or "")

    def __str__(self) -> str:
        if self.flags is None:
            return self.name
        evr = self.version or ""
        if self.epoch not in (None, "", "0"):
            evr = f"{self.epoch}:{evr}"
        if self.release:
            evr = f"{evr}-{self.release}"
        return f"{self.name} {FLAG_SYMBOLS[self.flags]} {evr}"


@dataclass(frozen=True)
class RpmFile:
    """One path of the package's file list."""

    path: str
    is_dir: bool = False
    is_ghost: bool = False

    @property
    def kind(self) -> str:
        """repodata's file type: 'dir', 'ghost' or '' (createrepo_c parsehdr.c: a directory wins over ghost)."""
        return "dir" if self.is_dir else ("ghost" if self.is_ghost else "")


@dataclass(frozen=True)
class ChangelogEntry:
    author: str
    time: int
    text: str


@dataclass(frozen=True)
class RpmPackage:
    """What repodata and the closure check need to know about one RPM file."""

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
    recommends: tuple[Dependency, ...] = ()
    suggests: tuple[Dependency, ...] = ()
    supplements: tuple[Dependency, ...] = ()
    enhances: tuple[Dependency, ...] = ()
    files: tuple[RpmFile, ...] = ()
    changelog: tuple[ChangelogEntry, ...] = ()  # newest first, as the header has them

    @property
    def evr(self) -> tuple[str, str, str]:
        return (self.epoch, self.version, self.release)

    @property
    def nevra(self) -> str:
        epoch = "" if self.epoch == "0" else f"{self.epoch}:"
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"


def parse_evr(text: str) -> tuple[str | None, str | None, str | None]:
    """'1:2.3-4' -> ('1', '2.3', '4'); no epoch gives '0', no release None; '' gives (None, None, None).

    Split as createrepo_c's cr_str_to_evr does: the epoch up to ':', the
    release after the first '-' that follows it.
    """
    if not text:
        return None, None, None
    epoch = "0"
    if ":" in text:
        epoch, text = text.split(":", 1)
    version, _, release = text.partition("-")
    return epoch or "0", version, release or None


def _dependencies(header: Header, names: int, flags_tag: int, versions: int, *,
                  requires: bool = False) -> tuple[Dependency, ...]:
    """One dependency list from its three parallel tags, in header order, rpmlib() ones left out."""
    flag_list = header.ints(flags_tag)
    version_list = header.strings(versions)
    found = []
    for position, name in enumerate(header.strings(names)):
        flags = flag_list[position] if position < len(flag_list) else 0
        text = version_list[position] if position < len(version_list) else ""
        # rpmlib(...) are features of rpm itself, not packages; createrepo_c drops them too.
        if flags & SENSE_RPMLIB or name.startswith("rpmlib("):
            continue
        sense = FLAG_NAMES.get(flags & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL)) if text else None
        epoch, version, release = parse_evr(text) if sense else (None, None, None)
        found.append(Dependency(name, sense, epoch, version, release, requires and bool(flags & SENSE_PRE)))
    return tuple(found)


def _files(main: Header) -> tuple[RpmFile, ...]:
    dirs = main.strings(DIRNAMES)
    paths = [dirs[index] + base if index < len(dirs) else base
             for base, index in zip(main.strings(BASENAMES), main.ints(DIRINDEXES))]
    if not paths:
        paths = main.strings(OLDFILENAMES)  # packages from before rpm 4 kept whole paths
    modes = main.ints(FILEMODES)
    flags = main.ints(FILEFLAGS)
    return tuple(
        RpmFile(path,
                position < len(modes) and (modes[position] & S_IFMT) == S_IFDIR,
                position < len(flags) and bool(flags[position] & FILE_GHOST))
        for position, path in enumerate(paths)
    )


def _first(*candidates: list[int]) -> int:
    return next((values[0] for values in candidates if values), 0)


def read_rpm(path: Path) -> RpmPackage:
    """Parse the headers of the RPM at `path` and SHA-256 the whole file (streamed, never held whole)."""
    path = Path(path)
    try:
        with open(path, "rb") as fp:
            try:
                Lead.parse(fp.read(Lead.FORMAT.size))
                signature = read_header(fp, Lead.FORMAT.size)
                # format.md: the signature is padded to a multiple of 8 bytes; the main header follows.
                main = read_header(fp, signature.end + (-signature.end % 8))
            except InvalidArtifact as exc:
                raise InvalidArtifact(f"{path}: {exc}") from None
            digest = hashlib.sha256()
            fp.seek(0)
            while block := fp.read(COPY_BLOCK):
                digest.update(block)
            stat = os.fstat(fp.fileno())
    except OSError as exc:
        raise InvalidArtifact(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return _package(path, signature, main, digest.hexdigest(), stat)
    except InvalidArtifact as exc:
        raise InvalidArtifact(f"{path}: {exc}") from None


def _package(path: Path, signature: Header, main: Header, sha256: str, stat: os.stat_result) -> RpmPackage:
    name = main.string(NAME)
    if not name or not main.string(VERSION):
        raise InvalidArtifact("RPM header has no package name or version")
    return RpmPackage(
        path=path,
        name=name,
        epoch=str(_first(main.ints(EPOCH))),
        version=main.string(VERSION),
        release=main.string(RELEASE),
        # createrepo_c calls a source package's arch "src", whatever its ARCH tag says.
        arch="src" if main.value(SOURCEPACKAGE) is not None else (main.string(ARCH) or "noarch"),
        summary=main.string(SUMMARY),
        description=main.string(DESCRIPTION),
        packager=main.string(PACKAGER),
        url=main.string(URL),
        license=main.string(LICENSE),
        vendor=main.string(VENDOR),
        group=main.string(GROUP),
        buildhost=main.string(BUILDHOST),
        sourcerpm=main.string(SOURCERPM),
        build_time=_first(main.ints(BUILDTIME)),
        file_time=int(stat.st_mtime),
        package_size=stat.st_size,
        installed_size=_first(main.ints(LONGSIZE), main.ints(SIZE)),
        # rpm merges the signature's sizes into the main header only where the main header has none.
        archive_size=_first(main.ints(LONGARCHIVESIZE), main.ints(ARCHIVESIZE),
                            signature.ints(SIG_LONGARCHIVESIZE), signature.ints(SIG_PAYLOADSIZE)),
        header_start=main.start,
        header_end=main.end,
        sha256=sha256,
        provides=_dependencies(main, PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION),
        requires=_dependencies(main, REQUIRENAME, REQUIREFLAGS, REQUIREVERSION, requires=True),
        conflicts=_dependencies(main, CONFLICTNAME, CONFLICTFLAGS, CONFLICTVERSION),
        obsoletes=_dependencies(main, OBSOLETENAME, OBSOLETEFLAGS, OBSOLETEVERSION),
        recommends=_dependencies(main, RECOMMENDNAME, RECOMMENDFLAGS, RECOMMENDVERSION),
        suggests=_dependencies(main, SUGGESTNAME, SUGGESTFLAGS, SUGGESTVERSION),
        supplements=_dependencies(main, SUPPLEMENTNAME, SUPPLEMENTFLAGS, SUPPLEMENTVERSION),
        enhances=_dependencies(main, ENHANCENAME, ENHANCEFLAGS, ENHANCEVERSION),
        files=_files(main),
        changelog=tuple(ChangelogEntry(author, time, text) for author, time, text in zip(
            main.strings(CHANGELOGNAME), main.ints(CHANGELOGTIME), main.strings(CHANGELOGTEXT))),
    )


# ---------------------------------------------------------------- version comparison

def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _is_alpha(char: str) -> bool:
    return "a" <= char <= "z" or "A" <= char <= "Z"  # rpm's risalpha is ASCII-only


def rpmvercmp(a: str, b: str) -> int:
    """Compare two version (or release) strings the way rpm does: -1, 0 or 1.

    rpmvercmp.c: skip separators (anything but ASCII letters, digits, '~' and
    '^'); '~' sorts before anything, even the end of the string; '^' sorts
    after the end of the string but before anything else; otherwise compare
    one all-digit or all-letter segment at a time, numbers numerically and
    newer than letters; if all segments match, the string with characters
    left over is newer.
    """
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not (_is_digit(a[i]) or _is_alpha(a[i]) or a[i] in "~^"):
            i += 1
        while j < len(b) and not (_is_digit(b[j]) or _is_alpha(b[j]) or b[j] in "~^"):
            j += 1
        one = a[i] if i < len(a) else ""
        two = b[j] if j < len(b) else ""
        if one == "~" or two == "~":
            if one != "~":
                return 1
            if two != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if one == "^" or two == "^":
            if not one:
                return -1
            if not two:
                return 1
            if one != "^":
                return 1
            if two != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (one and two):
            break
        numeric = _is_digit(one)
        same_kind = _is_digit if numeric else _is_alpha
        start_i, start_j = i, j
        while i < len(a) and same_kind(a[i]):
            i += 1
        while j < len(b) and same_kind(b[j]):
            j += 1
        if start_j == j:
            return 1 if numeric else -1  # segments of different kinds: numbers are newer
        seg_a, seg_b = a[start_i:i], b[start_j:j]
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def compare_evr(one: tuple[str, str, str], two: tuple[str, str, str]) -> int:
    """Order two (epoch, version, release) triples: -1, 0 or 1.

    A missing epoch is 0. An empty release on either side compares equal to
    any release (rpm's rule for 'foo >= 1.0' against foo-1.0-3).
    """
    result = rpmvercmp(one[0] or "0", two[0] or "0")
    if result:
        return result
    result = rpmvercmp(one[1], two[1])
    if result or not one[2] or not two[2]:
        return result
    return rpmvercmp(one[2], two[2])


def ranges_overlap(one: Dependency, two: Dependency) -> bool:
    """Do the version ranges of two dependencies on one name overlap (does a provide satisfy a require)?

    rpm's rpmverOverlap (rpmio/rpmver.c): unversioned on either side
    overlaps everything; otherwise compare the EVRs and the directions. When
    the versions are equal and only one side has a release, they overlap if
    the side without one includes equality.
    """
    if one.evr is None or two.evr is None:
        return True
    (epoch_a, version_a, release_a), (epoch_b, version_b, release_b) = one.evr, two.evr
    flags_a, flags_b = FLAG_BITS[str(one.flags)], FLAG_BITS[str(two.flags)]
    sense = rpmvercmp(epoch_a, epoch_b)
    if sense == 0:
        sense = rpmvercmp(version_a, version_b)
        if sense == 0:
            if release_a and release_b:
                sense = rpmvercmp(release_a, release_b)
            elif (release_a and flags_b & SENSE_EQUAL) or (release_b and flags_a & SENSE_EQUAL):
                return True
    if sense < 0:
        return bool(flags_a & SENSE_GREATER or flags_b & SENSE_LESS)
    if sense > 0:
        return bool(flags_a & SENSE_LESS or flags_b & SENSE_GREATER)
    return any(flags_a & bit and flags_b & bit for bit in (SENSE_EQUAL, SENSE_LESS, SENSE_GREATER))
