"""Read and write yum/dnf repository metadata: repomd.xml, primary, filelists and other.

The format is createrepo_c's (namespaces http://linux.duke.edu/metadata/*;
createrepo_c src/parsehdr.c and src/xml_dump_*.c). New packages are written
as createrepo_c writes them: the same elements in the same order, rpmlib()
requires dropped, requires the package satisfies itself dropped, only the
highest libc.so.6 requirement kept, the primary file list limited to /etc/*,
*bin/* and /usr/lib/sendmail, the last ten changelog entries oldest first.
Metadata files get createrepo's "unique md filenames" (<sha256>-primary.xml.gz).

Only repomd.xml, primary, filelists and other are written. tdnf, the package
manager of Photon's installer, needs repomd.xml and primary only
(vmware/tdnf client/repo.c); dnf reads filelists too. Real Photon ISOs also
carry the sqlite databases of `createrepo --database` and a relative
primary.xml.gz symlink: the databases are not written (nothing on Photon's
install path reads them), the symlink is the caller's business.

Packages read from an existing repository keep their metadata elements as
they were (only namespace prefixes and indentation are normalised), so
adding RPMs to an ISO's repository loses nothing.
"""

import gzip
import hashlib
import io
import lzma
import re
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field, replace
from functools import cmp_to_key
from pathlib import Path
from typing import Callable, Iterable

from ..errors import InternalError, InvalidArtifact
from .rpmhdr import FLAG_SYMBOLS, ChangelogEntry, Dependency, RpmPackage, compare_evr, read_rpm, rpmvercmp

NS_COMMON = "http://linux.duke.edu/metadata/common"
NS_RPM = "http://linux.duke.edu/metadata/rpm"
NS_REPO = "http://linux.duke.edu/metadata/repo"
NS_FILELISTS = "http://linux.duke.edu/metadata/filelists"
NS_OTHER = "http://linux.duke.edu/metadata/other"
NS_XML = "http://www.w3.org/XML/1998/namespace"
C, R, REPO = "{%s}" % NS_COMMON, "{%s}" % NS_RPM, "{%s}" % NS_REPO
FL, OT = "{%s}" % NS_FILELISTS, "{%s}" % NS_OTHER

REPOMD = "repodata/repomd.xml"
# Primary's <format> lists dependencies in this order (xml_dump_primary.c).
DEP_KINDS = ("provides", "requires", "conflicts", "obsoletes", "suggests", "enhances", "recommends", "supplements")
CHANGELOG_LIMIT = 10  # createrepo_c's --changelog-limit default
MAX_OPEN_SIZE = 1 << 30  # refuse metadata that decompresses past 1 GiB (a full distribution's is far less)
GZIP_LEVEL = 6


def is_primary_file(path: str) -> bool:
    """Does createrepo_c list `path` in primary too (misc.h cr_is_primary), not only in filelists?"""
    return path.startswith("/etc/") or path == "/usr/lib/sendmail" or "bin/" in path


@dataclass(frozen=True)
class RepoPackage:
    """One package of a repository, with the metadata elements that describe it.

    `files` are the paths primary lists; `all_files` the full list from
    filelists (None when filelists was not read). The elements are kept so an
    existing repository can be rewritten without losing anything; they take
    no part in comparisons.
    """

    name: str
    epoch: str
    version: str
    release: str
    arch: str
    location_href: str
    checksum: tuple[str, str]  # (type, hex digest); the digest is the package's pkgid
    provides: tuple[Dependency, ...] = ()
    requires: tuple[Dependency, ...] = ()
    files: tuple[str, ...] = ()
    all_files: tuple[str, ...] | None = None
    primary: ET.Element | None = field(default=None, repr=False, compare=False)
    filelists: ET.Element | None = field(default=None, repr=False, compare=False)
    other: ET.Element | None = field(default=None, repr=False, compare=False)

    @property
    def evr(self) -> tuple[str, str, str]:
        return (self.epoch or "0", self.version, self.release)

    @property
    def nevra(self) -> str:
        epoch = "" if self.epoch in ("", "0") else f"{self.epoch}:"
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"

    @property
    def known_files(self) -> tuple[str, ...]:
        """Every path known for the package: filelists' when read, else primary's."""
        return self.all_files if self.all_files is not None else self.files


# ---------------------------------------------------------------- reading

class _RefusingBuilder(ET.TreeBuilder):
    """A TreeBuilder that stops at a DOCTYPE, so no entity (billion laughs, external) is ever declared."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _DoctypeFound(name)


class _DoctypeFound(Exception):
    pass


def _parse_xml(data: bytes, what: str) -> ET.Element:
    parser = ET.XMLParser(target=_RefusingBuilder())
    try:
        parser.feed(data)
        return parser.close()
    except _DoctypeFound:
        raise InvalidArtifact(f"{what}: has a DOCTYPE, which repository metadata never needs; refused") from None
    except ET.ParseError as exc:
        raise InvalidArtifact(f"{what}: not well-formed XML ({exc})") from None


def _read(read: Callable[[str], bytes], relpath: str) -> bytes:
    try:
        return read(relpath)
    except (FileNotFoundError, KeyError):
        raise InvalidArtifact(f"{relpath}: missing from the repository") from None
    except OSError as exc:
        raise InvalidArtifact(f"{relpath}: cannot be read ({exc})") from None


def _bounded_read(stream: io.BufferedIOBase, what: str) -> bytes:
    data = stream.read(MAX_OPEN_SIZE + 1)
    if len(data) > MAX_OPEN_SIZE:
        raise InvalidArtifact(f"{what}: decompresses to more than {MAX_OPEN_SIZE >> 20} MiB; refused")
    return data


# Compressions createrepo_c can write that the standard library cannot read (their magic numbers).
_OTHER_COMPRESSIONS = ((b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"), (b"\x04\x22\x4d\x18", "lz4"))


def _decompress(data: bytes, href: str) -> bytes:
    """Metadata bytes, uncompressed; the compression is told by its magic, not by the file name."""
    try:
        if data[:2] == b"\x1f\x8b":
            return _bounded_read(gzip.GzipFile(fileobj=io.BytesIO(data)), href)
        if data[:6] == b"\xfd7zXZ\x00":
            return _bounded_read(lzma.LZMAFile(io.BytesIO(data)), href)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise InvalidArtifact(f"{href}: corrupt compressed data ({exc})") from None
    if data.lstrip()[:1] == b"<":
        return data
    kind = next((name for magic, name in _OTHER_COMPRESSIONS if data.startswith(magic)), "an unknown")
    raise InvalidArtifact(f"{href}: {kind} compression is not supported (only gzip, xz or plain XML)")


def _digest(kind: str, data: bytes, what: str) -> str:
    algorithm = {"sha": "sha1"}.get(kind, kind)  # yum's old name for SHA-1
    if algorithm not in hashlib.algorithms_available:
        raise InvalidArtifact(f"{REPOMD}: unknown checksum type {kind!r} for {what}")
    return hashlib.new(algorithm, data).hexdigest()


def _verify(entry: ET.Element, tag: str, data: bytes, href: str) -> None:
    checksum = entry.find(REPO + tag)
    if checksum is None:
        return
    kind, expected = checksum.get("type", "sha256"), (checksum.text or "").strip().lower()
    actual = _digest(kind, data, href)
    if actual != expected:
        raise InvalidArtifact(f"{href}: {tag} mismatch ({kind} {actual}, repomd.xml says {expected}); "
                              "the repository metadata is corrupt")


def _metadata(read: Callable[[str], bytes], entry: ET.Element) -> tuple[ET.Element, str]:
    """The parsed document a repomd <data> entry points at, its checksum and open-checksum verified."""
    location = entry.find(REPO + "location")
    href = location.get("href") if location is not None else None
    if not href:
        raise InvalidArtifact(f"{REPOMD}: the {entry.get('type')} entry has no location")
    raw = _read(read, href)
    _verify(entry, "checksum", raw, href)
    data = _decompress(raw, href)
    _verify(entry, "open-checksum", data, href)
    return _parse_xml(data, href), href


def _dependencies(fmt: ET.Element | None, kind: str) -> tuple[Dependency, ...]:
    container = fmt.find(R + kind) if fmt is not None else None
    if container is None:
        return ()
    found = []
    for entry in container.findall(R + "entry"):
        flags = entry.get("flags")
        if flags not in FLAG_SYMBOLS:
            flags = None  # only EQ/LT/GT/LE/GE exist (cr_flag_to_str); anything else reads as unversioned
        found.append(Dependency(entry.get("name", ""), flags, entry.get("epoch") if flags else None,
                                entry.get("ver") if flags else None, entry.get("rel") if flags else None,
                                entry.get("pre") in ("1", "true")))
    return tuple(found)


def _package(element: ET.Element, href: str, position: int) -> RepoPackage:
    name = (element.findtext(C + "name") or "").strip()
    version = element.find(C + "version")
    location = element.find(C + "location")
    checksum = element.find(C + "checksum")
    if not name or version is None or location is None or not location.get("href") or checksum is None:
        raise InvalidArtifact(f"{href}: package #{position + 1} ({name or 'no name'}) lacks its name, "
                              "version, location or checksum")
    fmt = element.find(C + "format")
    return RepoPackage(
        name=name,
        epoch=version.get("epoch") or "0",
        version=version.get("ver", ""),
        release=version.get("rel", ""),
        arch=(element.findtext(C + "arch") or "").strip(),
        location_href=location.get("href", ""),
        checksum=(checksum.get("type", "sha256"), (checksum.text or "").strip()),
        provides=_dependencies(fmt, "provides"),
        requires=_dependencies(fmt, "requires"),
        files=tuple(item.text or "" for item in fmt.findall(C + "file")) if fmt is not None else (),
        primary=element,
    )


def parse_repodata(read: Callable[[str], bytes], *, filelists: bool = True, other: bool = True) -> list[RepoPackage]:
    """The packages of a repository, in primary's order.

    `read(relpath)` returns a file relative to the repository root (e.g.
    "repodata/repomd.xml"). Every metadata file is checked against the
    checksums repomd.xml gives; filelists and other are read when listed and
    asked for. Raises InvalidArtifact for anything malformed.
    """
    repomd = _parse_xml(_read(read, REPOMD), REPOMD)
    if repomd.tag != REPO + "repomd":
        raise InvalidArtifact(f"{REPOMD}: not a repomd document (root element {repomd.tag})")
    entries: dict[str, ET.Element] = {}
    for entry in repomd.findall(REPO + "data"):
        entries.setdefault(entry.get("type", ""), entry)
    if "primary" not in entries:
        raise InvalidArtifact(f"{REPOMD}: lists no primary metadata")
    primary, href = _metadata(read, entries["primary"])
    if primary.tag != C + "metadata":
        raise InvalidArtifact(f"{href}: not primary metadata (root element {primary.tag})")
    packages = [_package(element, href, position) for position, element in enumerate(primary.findall(C + "package"))]

    # filelists/other entries belong to packages by pkgid; the same RPM may sit at two hrefs, so keep order.
    extra: dict[str, dict[str, list[ET.Element]]] = {"filelists": {}, "other": {}}
    for kind, wanted, root_tag in (("filelists", filelists, FL + "filelists"), ("other", other, OT + "otherdata")):
        if wanted and kind in entries:
            root, kind_href = _metadata(read, entries[kind])
            if root.tag != root_tag:
                raise InvalidArtifact(f"{kind_href}: not {kind} metadata (root element {root.tag})")
            namespace = root_tag.split("}")[0] + "}"
            for element in root.findall(namespace + "package"):
                extra[kind].setdefault(element.get("pkgid", ""), []).append(element)
    if not extra["filelists"] and not extra["other"]:
        return packages
    complete = []
    for package in packages:
        files = _take(extra["filelists"], package.checksum[1])
        all_files = tuple(item.text or "" for item in files.findall(FL + "file")) if files is not None else None
        complete.append(replace(package, all_files=all_files, filelists=files,
                                other=_take(extra["other"], package.checksum[1])))
    return complete


def _take(by_id: dict[str, list[ET.Element]], pkgid: str) -> ET.Element | None:
    waiting = by_id.get(pkgid)
    return waiting.pop(0) if waiting else None


# ---------------------------------------------------------------- from RPM files

def _valid_epoch(dep: Dependency) -> bool:
    # createrepo_c parsehdr.c skips (with a warning) dependencies whose epoch is not a number.
    return dep.epoch is None or (dep.epoch.isascii() and dep.epoch.isdigit())


def _libc_key(name: str) -> tuple[int, str]:
    """How createrepo_c ranks libc.so.6 requirements (parsehdr.c cr_compare_dependency), as a sort key."""
    opening = name.find("(")
    if opening < 0:
        return (0, "")
    closing = name.find(")", opening)
    if closing < 0:
        return (1, "")
    if closing == opening + 1:
        return (2, "")
    digit = next((index for index in range(opening + 1, closing) if "0" <= name[index] <= "9"), None)
    if digit is None:
        return (3, "")
    return (4, name[digit:closing])


def _libc_newer(one: str, two: str) -> bool:
    """Is libc requirement `two` ranked above `one`?"""
    key_one, key_two = _libc_key(one), _libc_key(two)
    if key_one[0] != key_two[0]:
        return key_two[0] > key_one[0]
    return key_one[0] == 4 and rpmvercmp(key_two[1], key_one[1]) > 0


def repo_requires(rpm: RpmPackage) -> tuple[Dependency, ...]:
    """The requires createrepo_c puts in primary for `rpm` (parsehdr.c, the DEP_REQUIRES branch).

    Left out: requires on primary-listed files the package contains, requires
    equal to one of its own provides, a repeat of the previous entry of the
    same name, bad epochs; of all libc.so.6(...) requires only the highest
    is kept, and it goes last.
    """
    own_files = {item.path for item in rpm.files}
    provided = {(dep.name, dep.flags, dep.evr) for dep in rpm.provides}
    found: list[Dependency] = []
    last: dict[str, Dependency] = {}
    libc: Dependency | None = None
    for dep in rpm.requires:
        if dep.name.startswith("/") and dep.name in own_files and is_primary_file(dep.name):
            continue
        if (dep.name, dep.flags, dep.evr) in provided:
            continue
        previous = last.get(dep.name)
        if previous is not None and (previous.flags, previous.evr, previous.pre) == (dep.flags, dep.evr, dep.pre):
            continue
        if not dep.name or not _valid_epoch(dep):
            continue
        if dep.name.startswith("libc.so.6"):
            if libc is None or _libc_newer(libc.name, dep.name):
                libc = dep
            continue
        found.append(dep)
        last[dep.name] = dep
    return tuple(found + ([libc] if libc is not None else []))


def _repo_deps(deps: tuple[Dependency, ...]) -> tuple[Dependency, ...]:
    return tuple(dep for dep in deps if dep.name and _valid_epoch(dep))


def repo_changelog(rpm: RpmPackage, limit: int = CHANGELOG_LIMIT) -> list[ChangelogEntry]:
    """The changelog entries createrepo_c writes to other.xml (parsehdr.c).

    The newest `limit` entries, oldest first, trailing spaces cut from the
    author; entries sharing a timestamp are made distinct by adding seconds
    to the newer ones, as createrepo_c does.
    """
    entries: list[list] = []  # built front-first like createrepo's g_slist_prepend
    last_time = 0
    for item in rpm.changelog[:limit]:
        author = item.author[:1] + item.author[1:].rstrip(" ")
        entries.insert(0, [author, item.time, item.text])
        if item.time == last_time:
            bumped = item.time
            for previous in entries[1:]:
                if previous[1] != bumped:
                    break
                previous[1] += 1
                bumped += 1
        else:
            last_time = item.time
    return [ChangelogEntry(author, time, text) for author, time, text in entries]


def _sub(parent: ET.Element, tag: str, text: str | None = None, attributes: dict[str, str] | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes or {})
    if text is not None:
        element.text = text
    return element


def _version_attributes(rpm: RpmPackage) -> dict[str, str]:
    return {"epoch": rpm.epoch, "ver": rpm.version, "rel": rpm.release}


def _dep_elements(fmt: ET.Element, kind: str, deps: tuple[Dependency, ...]) -> None:
    if not deps:
        return
    container = _sub(fmt, R + kind)
    for dep in deps:
        attributes = {"name": dep.name}
        if dep.flags:
            attributes["flags"] = dep.flags
            for key, value in (("epoch", dep.epoch), ("ver", dep.version), ("rel", dep.release)):
                if value:
                    attributes[key] = value
        if kind == "requires" and dep.pre:
            attributes["pre"] = "1"
        _sub(container, R + "entry", attributes=attributes)


def _file_elements(parent: ET.Element, tag: str, rpm: RpmPackage, primary_only: bool) -> None:
    for item in rpm.files:
        if primary_only and not is_primary_file(item.path):
            continue
        _sub(parent, tag, item.path, {"type": item.kind} if item.kind else None)


def _primary_element(rpm: RpmPackage, href: str, requires: tuple[Dependency, ...]) -> ET.Element:
    """<package> for primary.xml, element for element as xml_dump_primary.c writes it."""
    package = ET.Element(C + "package", {"type": "rpm"})
    _sub(package, C + "name", rpm.name)
    _sub(package, C + "arch", rpm.arch)
    _sub(package, C + "version", attributes=_version_attributes(rpm))
    _sub(package, C + "checksum", rpm.sha256, {"type": "sha256", "pkgid": "YES"})
    _sub(package, C + "summary", rpm.summary)
    _sub(package, C + "description", rpm.description)
    _sub(package, C + "packager", rpm.packager)
    _sub(package, C + "url", rpm.url)
    _sub(package, C + "time", attributes={"file": str(rpm.file_time), "build": str(rpm.build_time)})
    _sub(package, C + "size", attributes={"package": str(rpm.package_size), "installed": str(rpm.installed_size),
                                          "archive": str(rpm.archive_size)})
    _sub(package, C + "location", attributes={"href": href})
    fmt = _sub(package, C + "format")
    for tag, value in (("license", rpm.license), ("vendor", rpm.vendor), ("group", rpm.group),
                       ("buildhost", rpm.buildhost), ("sourcerpm", rpm.sourcerpm)):
        _sub(fmt, R + tag, value)
    _sub(fmt, R + "header-range", attributes={"start": str(rpm.header_start), "end": str(rpm.header_end)})
    for kind in DEP_KINDS:
        _dep_elements(fmt, kind, requires if kind == "requires" else _repo_deps(getattr(rpm, kind)))
    _file_elements(fmt, C + "file", rpm, primary_only=True)
    return package


def _filelists_element(rpm: RpmPackage) -> ET.Element:
    package = ET.Element(FL + "package", {"pkgid": rpm.sha256, "name": rpm.name, "arch": rpm.arch})
    _sub(package, FL + "version", attributes=_version_attributes(rpm))
    _file_elements(package, FL + "file", rpm, primary_only=False)
    return package


def _other_element(rpm: RpmPackage) -> ET.Element:
    package = ET.Element(OT + "package", {"pkgid": rpm.sha256, "name": rpm.name, "arch": rpm.arch})
    _sub(package, OT + "version", attributes=_version_attributes(rpm))
    for entry in repo_changelog(rpm):
        _sub(package, OT + "changelog", entry.text, {"author": entry.author, "date": str(entry.time)})
    return package


def package_from_rpm(rpm: RpmPackage, href: str) -> RepoPackage:
    """The repository entry for an RPM that will sit at `href` (relative to the repository root)."""
    requires = repo_requires(rpm)
    return RepoPackage(
        name=rpm.name, epoch=rpm.epoch, version=rpm.version, release=rpm.release, arch=rpm.arch,
        location_href=href, checksum=("sha256", rpm.sha256),
        provides=_repo_deps(rpm.provides), requires=requires,
        files=tuple(item.path for item in rpm.files if is_primary_file(item.path)),
        all_files=tuple(item.path for item in rpm.files),
        primary=_primary_element(rpm, href, requires), filelists=_filelists_element(rpm), other=_other_element(rpm),
    )


def packages_from_rpms(paths: Iterable[Path], href_prefix: str) -> list[RepoPackage]:
    """Repository entries for RPM files that will sit at `href_prefix` + file name, e.g. "x86_64/"."""
    if href_prefix and not href_prefix.endswith("/"):
        href_prefix += "/"
    return [package_from_rpm(read_rpm(Path(path)), href_prefix + Path(path).name) for path in paths]


# ---------------------------------------------------------------- XML output

# Characters XML 1.0 cannot carry at all (section 2.2); rpm headers occasionally hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                    "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _split(name: str) -> tuple[str | None, str]:
    if name.startswith("{"):
        uri, local = name[1:].split("}", 1)
        return uri, local
    return None, name


class _Writer:
    """Serialises ElementTree elements with fixed prefixes and createrepo's two-space indentation.

    ElementTree's own serialiser would need the global namespace registry
    (and cannot make a namespace the default); this one declares what it
    needs where it needs it: a namespace without a fixed prefix becomes the
    default namespace of the element that uses it.
    """

    def __init__(self, prefixes: dict[str, str]):
        self.out: list[str] = []
        self.prefixes = prefixes  # uri -> prefix for namespaces declared on the root

    def element(self, element: ET.Element, level: int | None, default: str | None) -> None:
        if not isinstance(element.tag, str):
            return  # comments and processing instructions are not kept
        declarations: list[str] = []
        uri, local = _split(element.tag)
        if uri is not None and uri in self.prefixes and uri != default:
            tag = f"{self.prefixes[uri]}:{local}"
        else:
            if uri != default:
                declarations.append(f' xmlns="{(uri or "").translate(_ATTRIBUTE_ESCAPES)}"')
                default = uri
            tag = local
        attributes = []
        local_prefixes: dict[str, str] = {}
        for key, value in element.attrib.items():
            attribute_uri, attribute_local = _split(key)
            if attribute_uri is None:
                name = attribute_local
            elif attribute_uri == NS_XML:
                name = f"xml:{attribute_local}"
            elif attribute_uri in self.prefixes:
                name = f"{self.prefixes[attribute_uri]}:{attribute_local}"
            else:
                if attribute_uri not in local_prefixes:
                    local_prefixes[attribute_uri] = f"ns{len(local_prefixes)}"
                    declarations.append(f' xmlns:{local_prefixes[attribute_uri]}="'
                                        f'{attribute_uri.translate(_ATTRIBUTE_ESCAPES)}"')
                name = f"{local_prefixes[attribute_uri]}:{attribute_local}"
            attributes.append(f' {name}="{_NOT_XML.sub("", value).translate(_ATTRIBUTE_ESCAPES)}"')
        self.out.append(f"<{tag}{''.join(declarations)}{''.join(attributes)}")
        children = list(element)
        if not children:
            if element.text is None:
                self.out.append("/>")
            else:
                self.out.append(f">{self.text(element.text)}</{tag}>")
            return
        self.out.append(">")
        # Repository metadata has no mixed content; if some element does, keep its text exactly.
        mixed = level is None or (element.text or "").strip() or any((child.tail or "").strip() for child in children)
        if mixed:
            self.out.append(self.text(element.text or ""))
        for child in children:
            if mixed:
                self.element(child, None, default)
                self.out.append(self.text(child.tail or ""))
            else:
                self.out.append("\n" + "  " * (level + 1))
                self.element(child, level + 1, default)
        if not mixed:
            self.out.append("\n" + "  " * level)
        self.out.append(f"</{tag}>")

    @staticmethod
    def text(value: str) -> str:
        return _NOT_XML.sub("", value).translate(_TEXT_ESCAPES)


def _document(root_tag: str, namespace: str, children: list[ET.Element], *, packages: int | None = None,
              rpm_prefix: bool = False, child_level: int = 0) -> bytes:
    """A whole metadata file: declaration, root with its namespaces, children one per line."""
    prefixes = {NS_RPM: "rpm"} if rpm_prefix else {}
    writer = _Writer(prefixes)
    root = f'<{root_tag} xmlns="{namespace}"' + (f' xmlns:rpm="{NS_RPM}"' if rpm_prefix else "")
    root += f' packages="{packages}">' if packages is not None else ">"
    writer.out.append('<?xml version="1.0" encoding="UTF-8"?>\n' + root)
    for child in children:
        writer.out.append("\n" + "  " * child_level)
        writer.element(child, child_level, namespace)
    writer.out.append(f"\n</{root_tag}>\n")
    return "".join(writer.out).encode("utf-8")


# ---------------------------------------------------------------- writing

def _order(one: RepoPackage, two: RepoPackage) -> int:
    return ((one.name > two.name) - (one.name < two.name) or (one.arch > two.arch) - (one.arch < two.arch)
            or compare_evr(one.evr, two.evr)
            or (one.location_href > two.location_href) - (one.location_href < two.location_href))


def _version_of(package: RepoPackage, namespace: str) -> ET.Element:
    return ET.Element(namespace + "version", {"epoch": package.epoch or "0", "ver": package.version,
                                             "rel": package.release})


def _filelists_stand_in(package: RepoPackage) -> ET.Element:
    """A filelists entry for a package read without one: primary's files, with their types."""
    element = ET.Element(FL + "package", {"pkgid": package.checksum[1], "name": package.name, "arch": package.arch})
    element.append(_version_of(package, FL))
    fmt = package.primary.find(C + "format") if package.primary is not None else None
    for item in fmt.findall(C + "file") if fmt is not None else []:
        _sub(element, FL + "file", item.text or "", {"type": item.get("type")} if item.get("type") else None)
    return element


def _other_stand_in(package: RepoPackage) -> ET.Element:
    element = ET.Element(OT + "package", {"pkgid": package.checksum[1], "name": package.name, "arch": package.arch})
    element.append(_version_of(package, OT))
    return element


def write_repodata(packages: list[RepoPackage], timestamp: int) -> dict[str, bytes]:
    """The repodata/ files for `packages`: {path relative to the repository root: bytes}.

    Identical input and timestamp give identical bytes: packages are sorted
    by name, arch, EVR and location, gzip headers carry no name and mtime 0,
    and `timestamp` is repomd's revision and every <timestamp>. Packages
    without filelists/other elements get stand-ins with what primary knows.
    """
    ordered = sorted(packages, key=cmp_to_key(_order))
    hrefs = set()
    for package in ordered:
        if package.primary is None:
            raise InternalError(f"write_repodata: {package.nevra} has no primary element")
        if package.location_href in hrefs:
            raise InternalError(f"write_repodata: two packages at {package.location_href}")
        hrefs.add(package.location_href)
    count = len(ordered)
    documents = {
        "primary": _document("metadata", NS_COMMON, [package.primary for package in ordered
                                                     if package.primary is not None],
                             packages=count, rpm_prefix=True),
        "filelists": _document("filelists", NS_FILELISTS,
                               [package.filelists if package.filelists is not None else _filelists_stand_in(package)
                                for package in ordered], packages=count),
        "other": _document("otherdata", NS_OTHER,
                           [package.other if package.other is not None else _other_stand_in(package)
                            for package in ordered], packages=count),
    }
    files = {}
    repomd = [ET.Element(REPO + "revision")]
    repomd[0].text = str(timestamp)
    for kind, xml in documents.items():
        compressed = gzip.compress(xml, compresslevel=GZIP_LEVEL, mtime=0)
        digest = hashlib.sha256(compressed).hexdigest()
        href = f"repodata/{digest}-{kind}.xml.gz"
        files[href] = compressed
        data = ET.Element(REPO + "data", {"type": kind})
        _sub(data, REPO + "checksum", digest, {"type": "sha256"})
        _sub(data, REPO + "open-checksum", hashlib.sha256(xml).hexdigest(), {"type": "sha256"})
        _sub(data, REPO + "location", attributes={"href": href})
        _sub(data, REPO + "timestamp", str(timestamp))
        _sub(data, REPO + "size", str(len(compressed)))
        _sub(data, REPO + "open-size", str(len(xml)))
        repomd.append(data)
    files[REPOMD] = _document("repomd", NS_REPO, repomd, rpm_prefix=True, child_level=1)
    return files
