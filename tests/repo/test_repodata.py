"""Our repodata against createrepo_c's for the same RPMs, read back by us and by a real resolver (dnf)."""

import copy
import gzip
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from builder.errors import InternalError, InvalidArtifact
from builder.repo.repodata import (
    NS_COMMON,
    NS_RPM,
    package_from_rpm,
    packages_from_rpms,
    parse_repodata,
    write_repodata,
)
from builder.repo.rpmhdr import read_rpm

from .conftest import (
    TIMESTAMP,
    metadata_path,
    package_elements,
    reader,
    replace_metadata,
    write_createrepo,
    write_ours,
)

C, R = "{%s}" % NS_COMMON, "{%s}" % NS_RPM
SHIPPED = ["glibc", "bash", "libnl", "perl", "net-snmp", "systemd", "keepalived", "old-tool", "lb-tools"]


def canonical(element: ET.Element, *, drop_file_time: bool = False) -> str:
    """An element as canonical XML (C14N 2.0), whitespace between elements ignored."""
    element = copy.deepcopy(element)
    time = element.find(C + "time")
    if drop_file_time and time is not None:
        del time.attrib["file"]
    return ET.canonicalize(ET.tostring(element), strip_text=True)


def test_package_metadata_equals_createrepo_c(rpms, tmp_path):
    """primary, filelists and other: element for element what createrepo_c writes for the same RPMs.

    Only <time file> may differ (the RPM's mtime is read by each tool when it runs).
    """
    paths = [rpms[name] for name in SHIPPED]
    write_ours(tmp_path / "ours", paths)
    write_createrepo(tmp_path / "theirs", paths)
    for kind in ("primary", "filelists", "other"):
        mine, reference = package_elements(tmp_path / "ours", kind), package_elements(tmp_path / "theirs", kind)
        assert sorted(mine) == sorted(reference), kind
        for pkgid, element in reference.items():
            assert canonical(mine[pkgid], drop_file_time=True) == canonical(element, drop_file_time=True), kind

    # The details the comparison covers, spelled out for the record:
    keepalived = next(element for element in package_elements(tmp_path / "ours", "primary").values()
                      if element.findtext(C + "name") == "keepalived")
    requires = [(entry.get("name"), entry.get("pre")) for entry in keepalived.find(f"{C}format/{R}requires")]
    assert ("/bin/sh", "1") in requires and ("/bin/sh", None) in requires
    assert [name for name, _ in requires if name.startswith("libc.so.6")] == ["libc.so.6(GLIBC_2.34)(64bit)"]
    assert [item.text for item in keepalived.findall(f"{C}format/{C}file")] == [
        "/etc/keepalived", "/etc/keepalived/keepalived.conf", "/usr/sbin/keepalived"]
    other = next(element for element in package_elements(tmp_path / "ours", "other").values()
                 if element.get("name") == "keepalived")
    assert len(other.findall("{http://linux.duke.edu/metadata/other}changelog")) == 10


def test_repomd_matches_createrepo_c_shape(rpms, tmp_path):
    write_ours(tmp_path / "ours", [rpms["bash"]])
    write_createrepo(tmp_path / "theirs", [rpms["bash"]])
    repo = "{http://linux.duke.edu/metadata/repo}"

    def shape(root):
        repomd = ET.parse(root / "repodata/repomd.xml").getroot()
        return [(data.get("type"), [child.tag for child in data], data.find(repo + "location").get("href")
                 .startswith(f"repodata/{data.findtext(repo + 'checksum')}-"))
                for data in repomd.findall(repo + "data")]

    ours = shape(tmp_path / "ours")
    assert [item[0] for item in ours] == ["primary", "filelists", "other"]
    assert ours == [item for item in shape(tmp_path / "theirs") if not item[0].endswith("_db")]
    repomd = ET.parse(tmp_path / "ours/repodata/repomd.xml").getroot()
    assert repomd.findtext(repo + "revision") == str(TIMESTAMP)
    for data in repomd.findall(repo + "data"):
        compressed = (tmp_path / "ours" / data.find(repo + "location").get("href")).read_bytes()
        assert int(data.findtext(repo + "size")) == len(compressed)
        assert int(data.findtext(repo + "open-size")) == len(gzip.decompress(compressed))
        assert data.findtext(repo + "timestamp") == str(TIMESTAMP)


def test_round_trip_through_our_reader(rpms, tmp_path):
    paths = [rpms[name] for name in SHIPPED]
    write_ours(tmp_path, paths)
    written = {package.location_href: package
               for path in paths for package in packages_from_rpms([path], path.parent.name + "/")}
    read = {package.location_href: package for package in parse_repodata(reader(tmp_path))}
    assert read == written  # every field but the elements, which take no part in ==
    for href, package in read.items():
        for kind in ("primary", "filelists", "other"):
            assert canonical(getattr(package, kind)) == canonical(getattr(written[href], kind)), (href, kind)
    keepalived = read["x86_64/keepalived-2.2.7-3.ph5.x86_64.rpm"]
    assert keepalived.files == ("/etc/keepalived", "/etc/keepalived/keepalived.conf", "/usr/sbin/keepalived")
    assert "/run/keepalived.pid" in keepalived.all_files
    assert {str(dep) for dep in keepalived.requires} >= {"net-snmp >= 5.9", "/bin/sh", "systemd >= 253"}
    assert read["x86_64/systemd-253.12-1.ph5.x86_64.rpm"].epoch == "1"
    primary_only = parse_repodata(reader(tmp_path), filelists=False, other=False)
    assert all(package.all_files is None and package.other is None for package in primary_only)


def test_identical_input_gives_identical_bytes(rpms):
    packages = packages_from_rpms([rpms[name] for name in SHIPPED], "x86_64/")
    one = write_repodata(packages, TIMESTAMP)
    two = write_repodata(list(reversed(packages_from_rpms([rpms[name] for name in SHIPPED], "x86_64/"))), TIMESTAMP)
    assert one == two
    for relpath, data in one.items():
        if relpath.endswith(".gz"):
            assert data[3] & 0x08 == 0 and data[4:8] == bytes(4)  # gzip: no file name, mtime 0 (RFC 1952)
    assert write_repodata(packages, TIMESTAMP + 1) != one


def test_packages_are_sorted_by_name_arch_evr(rpms):
    older, newer = packages_from_rpms([rpms["net-snmp-older"], rpms["net-snmp"]], "x86_64/")
    # a plain string sort would put 5.9.10 before 5.9.4; rpm's order puts it after
    element = copy.deepcopy(newer.primary)
    element.find(C + "version").set("ver", "5.9.10")
    element.find(C + "location").set("href", "x86_64/net-snmp-5.9.10.rpm")
    newest = replace(newer, version="5.9.10", location_href="x86_64/net-snmp-5.9.10.rpm",
                     checksum=("sha256", "0" * 64), primary=element)
    primary = gzip.decompress(next(data for relpath, data in write_repodata([newest, newer, older], TIMESTAMP).items()
                                   if relpath.endswith("primary.xml.gz")))
    assert [item.find(C + "version").get("ver") for item in ET.fromstring(primary)] == ["5.9.1", "5.9.4", "5.9.10"]


def test_dnf_resolves_through_file_versioned_and_library_requires(rpms, tmp_path, dnf):
    """dnf, reading only our repodata, resolves keepalived's closure (offline, in its own install root)."""
    root = tmp_path / "repo"
    write_ours(root, [rpms[name] for name in SHIPPED])
    result = dnf(root, "repoquery", "--quiet", "--requires", "--resolve", "--qf", "%{name}", "keepalived")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"bash", "glibc", "libnl", "net-snmp", "systemd"}
    result = dnf(root, "repoquery", "--quiet", "--whatprovides", "perl(Carp) >= 1.50", "--qf", "%{name}")
    assert result.stdout.split() == ["perl"], result.stderr
    result = dnf(root, "install", "--assumeno", "keepalived")
    # --assumeno stops after showing the transaction: the whole resolved closure
    output = result.stdout + result.stderr
    assert "Operation aborted" in output and "Problem" not in output, output
    for name in ("bash", "glibc", "keepalived", "libnl", "net-snmp", "perl", "systemd"):
        assert f" {name} " in output, name
    result = dnf(root, "install", "--assumeno", "old-tool")
    assert "nothing provides net-snmp >= 6.0" in result.stdout + result.stderr


def test_adding_to_a_createrepo_repository_keeps_its_entries(rpms, tmp_path, dnf):
    base = [rpms[name] for name in ("glibc", "bash", "perl", "net-snmp", "systemd")]
    write_createrepo(tmp_path, base)
    before = {kind: package_elements(tmp_path, kind) for kind in ("primary", "filelists", "other")}
    existing = parse_repodata(reader(tmp_path))
    assert len(existing) == 5  # the sqlite databases repomd.xml lists are passed over
    write_ours(tmp_path, [rpms["keepalived"], rpms["libnl"]], existing=existing)
    after = parse_repodata(reader(tmp_path))
    assert sorted(package.name for package in after) == ["bash", "glibc", "keepalived", "libnl", "net-snmp",
                                                         "perl", "systemd"]
    for kind, elements in before.items():
        now = package_elements(tmp_path, kind)
        for pkgid, element in elements.items():  # element for element, time file= included
            assert canonical(now[pkgid]) == canonical(element), kind
    assert "/etc/bashrc" in next(package for package in after if package.name == "bash").all_files
    result = dnf(tmp_path, "install", "--assumeno", "keepalived")
    assert "Operation aborted" in result.stdout + result.stderr and "Problem" not in result.stdout + result.stderr


def test_existing_prefixes_are_normalised(rpms, tmp_path):
    """A primary written with other prefixes (ElementTree's ns0/ns1) is rewritten with createrepo's."""
    write_createrepo(tmp_path, [rpms["bash"], rpms["perl"]])
    document = ET.fromstring(gzip.decompress(metadata_path(tmp_path, "primary").read_bytes()))
    odd = ET.tostring(document)
    assert b"<ns0:metadata" in odd and b"ns1:provides" in odd
    replace_metadata(tmp_path, "primary", odd, compression="xz")  # xz is read too
    existing = parse_repodata(reader(tmp_path))
    files = write_repodata(existing, TIMESTAMP)
    primary = gzip.decompress(next(data for relpath, data in files.items() if relpath.endswith("-primary.xml.gz")))
    assert b"ns0:" not in primary and b"ns1:" not in primary
    assert primary.count(b"<rpm:provides>") == 2
    assert {canonical(element) for element in ET.fromstring(primary)} == {canonical(element)
                                                                         for element in document}


def test_package_without_filelists_and_other_gets_stand_ins(rpms, tmp_path):
    write_createrepo(tmp_path, [rpms["bash"]])
    existing = parse_repodata(reader(tmp_path), filelists=False, other=False)
    files = write_repodata(existing, TIMESTAMP)
    for relpath, data in files.items():
        (tmp_path / "new" / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "new" / relpath).write_bytes(data)
    (bash,) = parse_repodata(reader(tmp_path / "new"))
    assert bash.all_files == ("/bin/bash", "/bin/sh", "/etc/bashrc")  # what primary listed
    assert bash.other is not None and bash.other.get("pkgid") == bash.checksum[1]


def test_text_that_xml_cannot_carry_is_dropped(rpms, tmp_path):
    package = package_from_rpm(read_rpm(rpms["bash"]), "x86_64/bash.rpm")
    package.primary.find(C + "summary").text = "bad\x01 \x1b[1mtext\x1b[0m <&>"
    for relpath, data in write_repodata([package], TIMESTAMP).items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_bytes(data)
    (read,) = parse_repodata(reader(tmp_path))
    assert read.primary.findtext(C + "summary") == "bad [1mtext[0m <&>"


def test_bad_metadata_is_refused(rpms, tmp_path):
    write_ours(tmp_path, [rpms["bash"]])
    primary = metadata_path(tmp_path, "primary")
    good = primary.read_bytes()

    primary.write_bytes(good[:-10] + bytes([good[-10] ^ 0xFF]) + good[-9:])
    with pytest.raises(InvalidArtifact, match=f"^{primary.relative_to(tmp_path)}: checksum mismatch"):
        parse_repodata(reader(tmp_path))

    xml = gzip.decompress(good)
    replace_metadata(tmp_path, "primary", xml)
    open_checksum = "{http://linux.duke.edu/metadata/repo}open-checksum"
    repomd = (tmp_path / "repodata/repomd.xml").read_text()
    tree = ET.fromstring(repomd)
    wrong = tree.find(f"*/{open_checksum}").text
    (tmp_path / "repodata/repomd.xml").write_text(repomd.replace(wrong, "0" * 64, 1))
    with pytest.raises(InvalidArtifact, match="open-checksum mismatch"):
        parse_repodata(reader(tmp_path))

    replace_metadata(tmp_path, "primary", b'<!DOCTYPE m [<!ENTITY a "b">]>' + xml.split(b"?>", 1)[1])
    with pytest.raises(InvalidArtifact, match="has a DOCTYPE"):
        parse_repodata(reader(tmp_path))

    zstd = replace_metadata(tmp_path, "primary", b"")
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20))  # a zstd frame's magic
    tree = ET.parse(tmp_path / "repodata/repomd.xml")
    entry = tree.getroot().find("{http://linux.duke.edu/metadata/repo}data")
    entry.remove(entry.find(open_checksum))
    entry.remove(entry.find("{http://linux.duke.edu/metadata/repo}checksum"))
    tree.write(tmp_path / "repodata/repomd.xml")
    with pytest.raises(InvalidArtifact, match="zstd compression is not supported"):
        parse_repodata(reader(tmp_path))

    (tmp_path / "repodata/repomd.xml").write_text("<!DOCTYPE x [<!ENTITY a 'b'>]><repomd/>")
    with pytest.raises(InvalidArtifact, match="^repodata/repomd.xml: has a DOCTYPE"):
        parse_repodata(reader(tmp_path))
    (tmp_path / "repodata/repomd.xml").unlink()
    with pytest.raises(InvalidArtifact, match="^repodata/repomd.xml: missing"):
        parse_repodata(reader(tmp_path))


def test_writing_needs_primary_elements_and_distinct_locations(rpms):
    (package,) = packages_from_rpms([rpms["bash"]], "x86_64")
    assert package.location_href == "x86_64/bash-5.2.15-1.ph5.x86_64.rpm"
    with pytest.raises(InternalError, match="two packages at"):
        write_repodata([package, package], TIMESTAMP)
    with pytest.raises(InternalError, match="no primary element"):
        write_repodata([replace(package, primary=None)], TIMESTAMP)
