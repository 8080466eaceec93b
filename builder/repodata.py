"""Read and write yum/dnf repository metadata (repomd.xml, primary, filelists, other).

The format is createrepo_c's (namespaces http://linux.duke.edu/metadata/*).
tdnf, Photon's installer's package manager, needs repomd.xml and primary
only; filelists and other are written too so dnf and other readers see a
complete repository. The sqlite databases `createrepo --database` adds are
not written: nothing on Photon's install path reads them, and repomd.xml no
longer lists the old ones. Existing packages keep their metadata elements as
they were, so adding RPMs to an ISO's repository loses nothing.
"""

import gzip
import hashlib
import lzma
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import InvalidArtifact
from .rpmhdr import Dependency, RpmPackage, read_rpm

NS_COMMON = "http://linux.duke.edu/metadata/common"
NS_RPM = "http://linux.duke.edu/metadata/rpm"
NS_REPO = "http://linux.duke.edu/metadata/repo"
NS_FILELISTS = "http://linux.duke.edu/metadata/filelists"
NS_OTHER = "http://linux.duke.edu/metadata/other"
ET.register_namespace("rpm", NS_RPM)

C = "{%s}" % NS_COMMON
R = "{%s}" % NS_RPM
DEP_KINDS = ("provides", "requires", "conflicts", "obsoletes", "suggests", "enhances", "recommends", "supplements")
# createrepo_c puts only these files into primary (the rest go to filelists).
PRIMARY_FILE = re.compile(r"^(/etc/|/usr/lib/sendmail$)|bin/")


@dataclass
class RepoPackage:
    """One package of a repository, with the metadata elements that describe it."""

    name: str
    epoch: str
    version: str
    release: str
    arch: str
    location_href: str
    checksum: tuple[str, str]
    provides: tuple[Dependency, ...] = ()
    requires: tuple[Dependency, ...] = ()
    files: tuple[str, ...] = ()
    primary: ET.Element | None = field(default=None, repr=False)
    filelists: ET.Element | None = field(default=None, repr=False)
    other: ET.Element | None = field(default=None, repr=False)

    @property
    def evr(self) -> tuple[str, str, str]:
        return (self.epoch or "0", self.version, self.release)

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"


# ---------------------------------------------------------------- reading

def _parse_xml(data: bytes, what: str) -> ET.Element:
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
        raise InvalidArtifact(f"{what}: DOCTYPE/ENTITY declarations are not allowed in repository metadata")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidArtifact(f"{what}: not well-formed XML ({exc})")


def _decompress(data: bytes, href: str) -> bytes:
    try:
        if href.endswith(".gz"):
            return gzip.decompress(data)
        if href.endswith(".xz"):
            return lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InvalidArtifact(f"{href}: corrupt compressed data ({exc})")
    if href.endswith(".xml"):
        return data
    kind = href.rsplit(".", 1)[-1]
    raise InvalidArtifact(f"{href}: {kind} compression is not supported (gzip, xz or none)")


def _checked(read: Callable[[str], bytes], data_element: ET.Element, kind: str) -> tuple[bytes, str]:
    location = data_element.find(f"{{{NS_REPO}}}location")
    if location is None or not location.get("href"):
        raise InvalidArtifact(f"repomd.xml: the {kind} entry has no location")
    href = location.get("href")
    data = read(href)
    checksum = data_element.find(f"{{{NS_REPO}}}checksum")
    if checksum is not None:
        algorithm = {"sha": "sha1"}.get(checksum.get("type", "sha256"), checksum.get("type", "sha256"))
        try:
            actual = hashlib.new(algorithm, data).hexdigest()
        except ValueError:
            raise InvalidArtifact(f"repomd.xml: unknown checksum type {algorithm} for {href}")
        if actual != (checksum.text or "").strip():
            raise InvalidArtifact(f"{href}: checksum mismatch with repomd.xml (the repository metadata is corrupt)")
    return _decompress(data, href), href


def _dependencies(format_element: ET.Element | None, kind: str) -> tuple[Dependency, ...]:
    if format_element is None:
        return ()
    container = format_element.find(R + kind)
    if container is None:
        return ()
    return tuple(
        Dependency(entry.get("name", ""), entry.get("flags"), entry.get("epoch"), entry.get("ver"),
                   entry.get("rel"), entry.get("pre") == "1")
        for entry in container.findall(R + "entry")
    )


def parse_repodata(read: Callable[[str], bytes]) -> list[RepoPackage]:
    """The packages of a repository; `read(relpath)` returns a file relative to its root."""
    repomd = _parse_xml(read("repodata/repomd.xml"), "repodata/repomd.xml")
    if repomd.tag != f"{{{NS_REPO}}}repomd":
        raise InvalidArtifact("repodata/repomd.xml is not a repomd document")
    entries = {item.get("type"): item for item in repomd.findall(f"{{{NS_REPO}}}data")}
    if "primary" not in entries:
        raise InvalidArtifact("repodata/repomd.xml lists no primary metadata")
    primary_xml, href = _checked(read, entries["primary"], "primary")
    primary = _parse_xml(primary_xml, href)
    packages = []
    for element in primary.findall(C + "package"):
        version = element.find(C + "version")
        location = element.find(C + "location")
        checksum = element.find(C + "checksum")
        fmt = element.find(C + "format")
        if version is None or location is None or checksum is None:
            raise InvalidArtifact(f"{href}: a package entry lacks version, location or checksum")
        packages.append(RepoPackage(
            name=element.findtext(C + "name", ""),
            epoch=version.get("epoch", "0"),
            version=version.get("ver", ""),
            release=version.get("rel", ""),
            arch=element.findtext(C + "arch", ""),
            location_href=location.get("href", ""),
            checksum=(checksum.get("type", "sha256"), (checksum.text or "").strip()),
            provides=_dependencies(fmt, "provides"),
            requires=_dependencies(fmt, "requires"),
            files=tuple(item.text or "" for item in (fmt.findall(C + "file") if fmt is not None else [])),
            primary=element,
        ))
    by_id = {package.checksum[1]: package for package in packages}
    for kind, tag in (("filelists", f"{{{NS_FILELISTS}}}package"), ("other", f"{{{NS_OTHER}}}package")):
        if kind in entries:
            data, kind_href = _checked(read, entries[kind], kind)
            for element in _parse_xml(data, kind_href).findall(tag):
                package = by_id.get(element.get("pkgid"))
                if package is not None:
                    setattr(package, kind, element)
                    if kind == "filelists":
                        package.files = tuple(item.text or "" for item in element.findall(f"{{{NS_FILELISTS}}}file"))
    return packages


# ---------------------------------------------------------------- writing

def packages_from_rpms(paths, href_prefix: str) -> list[RepoPackage]:
    """Repository entries for RPM files that will sit at `href_prefix` + file name."""
    found = []
    for path in paths:
        rpm = read_rpm(Path(path))
        href = href_prefix + Path(path).name
        found.append(RepoPackage(
            name=rpm.name, epoch=rpm.epoch, version=rpm.version, release=rpm.release, arch=rpm.arch,
            location_href=href, checksum=("sha256", rpm.sha256), provides=rpm.provides, requires=rpm.requires,
            files=tuple(item.path for item in rpm.files),
            primary=_primary_element(rpm, href), filelists=_filelists_element(rpm), other=_other_element(rpm),
        ))
    return found


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes) -> ET.Element:
    element = ET.SubElement(parent, tag, {key.rstrip("_"): value for key, value in attributes.items()})
    if text is not None:
        element.text = text
    return element


def _dep_entries(parent: ET.Element, kind: str, deps) -> None:
    if not deps:
        return
    container = _sub(parent, R + kind)
    for dep in deps:
        attributes = {"name": dep.name}
        if dep.flags:
            attributes["flags"] = dep.flags
            attributes["epoch"] = dep.epoch or "0"
            if dep.version is not None:
                attributes["ver"] = dep.version
            if dep.release is not None:
                attributes["rel"] = dep.release
        if dep.pre:
            attributes["pre"] = "1"
        _sub(container, R + "entry", **attributes)


def _version(parent: ET.Element, tag: str, rpm: RpmPackage) -> None:
    _sub(parent, tag, epoch=rpm.epoch, ver=rpm.version, rel=rpm.release)


def _primary_element(rpm: RpmPackage, href: str) -> ET.Element:
    package = ET.Element(C + "package", {"type": "rpm"})
    _sub(package, C + "name", rpm.name)
    _sub(package, C + "arch", rpm.arch)
    _version(package, C + "version", rpm)
    _sub(package, C + "checksum", rpm.sha256, type="sha256", pkgid="YES")
    _sub(package, C + "summary", rpm.summary)
    _sub(package, C + "description", rpm.description)
    _sub(package, C + "packager", rpm.packager)
    _sub(package, C + "url", rpm.url)
    _sub(package, C + "time", file=str(rpm.file_time), build=str(rpm.build_time))
    _sub(package, C + "size", package=str(rpm.package_size), installed=str(rpm.installed_size),
         archive=str(rpm.archive_size))
    _sub(package, C + "location", href=href)
    fmt = _sub(package, C + "format")
    _sub(fmt, R + "license", rpm.license)
    _sub(fmt, R + "vendor", rpm.vendor)
    _sub(fmt, R + "group", rpm.group)
    _sub(fmt, R + "buildhost", rpm.buildhost)
    _sub(fmt, R + "sourcerpm", rpm.sourcerpm)
    _sub(fmt, R + "header-range", start=str(rpm.header_start), end=str(rpm.header_end))
    for kind in DEP_KINDS:
        deps = getattr(rpm, kind, None) if kind in ("provides", "requires", "conflicts", "obsoletes") else rpm.weak.get(kind)
        _dep_entries(fmt, kind, deps)
    for item in rpm.files:
        if PRIMARY_FILE.search(item.path):
            attributes = {"type": "dir"} if item.is_dir else ({"type": "ghost"} if item.is_ghost else {})
            _sub(fmt, C + "file", item.path, **attributes)
    return package


def _filelists_element(rpm: RpmPackage) -> ET.Element:
    ns = "{%s}" % NS_FILELISTS
    package = ET.Element(ns + "package", {"pkgid": rpm.sha256, "name": rpm.name, "arch": rpm.arch})
    _version(package, ns + "version", rpm)
    for item in rpm.files:
        attributes = {"type": "dir"} if item.is_dir else ({"type": "ghost"} if item.is_ghost else {})
        _sub(package, ns + "file", item.path, **attributes)
    return package


def _other_element(rpm: RpmPackage) -> ET.Element:
    ns = "{%s}" % NS_OTHER
    package = ET.Element(ns + "package", {"pkgid": rpm.sha256, "name": rpm.name, "arch": rpm.arch})
    _version(package, ns + "version", rpm)
    for author, date, text in rpm.changelog:
        _sub(package, ns + "changelog", text, author=author, date=str(date))
    return package


def _document(namespace: str, root_tag: str, elements: list[ET.Element], count: int) -> bytes:
    root = ET.Element("{%s}%s" % (namespace, root_tag), {"packages": str(count)})
    root.extend(elements)
    return _serialize(root, namespace)


def _serialize(root: ET.Element, namespace: str) -> bytes:
    """XML with `namespace` as the default one, as createrepo writes it.

    ElementTree's default_namespace option refuses unqualified attributes,
    so the default prefix is registered for the one call instead.
    """
    ET.indent(root, space="  ")
    ET.register_namespace("", namespace)
    ET.register_namespace("rpm", NS_RPM)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _sort_key(package: RepoPackage):
    return (package.name, package.arch, package.evr, package.location_href)


def write_repodata(packages: list[RepoPackage], timestamp: int) -> dict[str, bytes]:
    """repodata/ files for `packages`: {relative path: bytes}, identical for identical input."""
    packages = sorted(packages, key=_sort_key)
    missing = [package.nevra for package in packages if package.primary is None]
    if missing:
        raise InvalidArtifact(f"no primary metadata for {missing[0]}")
    documents = {
        "primary": _document(NS_COMMON, "metadata", [package.primary for package in packages], len(packages)),
        "filelists": _document(NS_FILELISTS, "filelists",
                               [package.filelists for package in packages if package.filelists is not None],
                               len(packages)),
        "other": _document(NS_OTHER, "otherdata",
                           [package.other for package in packages if package.other is not None], len(packages)),
    }
    files = {}
    repomd = ET.Element(f"{{{NS_REPO}}}repomd")
    _sub(repomd, f"{{{NS_REPO}}}revision", str(timestamp))
    for kind, xml in documents.items():
        compressed = gzip.compress(xml, compresslevel=9, mtime=0)
        digest = hashlib.sha256(compressed).hexdigest()
        href = f"repodata/{digest}-{kind}.xml.gz"
        files[href] = compressed
        data = _sub(repomd, f"{{{NS_REPO}}}data", type=kind)
        _sub(data, f"{{{NS_REPO}}}checksum", digest, type="sha256")
        _sub(data, f"{{{NS_REPO}}}open-checksum", hashlib.sha256(xml).hexdigest(), type="sha256")
        _sub(data, f"{{{NS_REPO}}}location", href=href)
        _sub(data, f"{{{NS_REPO}}}timestamp", str(timestamp))
        _sub(data, f"{{{NS_REPO}}}size", str(len(compressed)))
        _sub(data, f"{{{NS_REPO}}}open-size", str(len(xml)))
    files["repodata/repomd.xml"] = _serialize(repomd, NS_REPO)
    return files
