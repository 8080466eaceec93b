"""Our repodata against createrepo_c's for the same RPMs, and read by a real resolver (dnf)."""

import gzip
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from builder.errors import InvalidArtifact
from builder.repodata import NS_COMMON, NS_RPM, packages_from_rpms, parse_repodata, write_repodata

C, R = "{%s}" % NS_COMMON, "{%s}" % NS_RPM
TIMESTAMP = 1704067200


def make_repo(root: Path, rpm_paths, *, ours=True, existing=None):
    """A repository at `root`: RPMs under x86_64/ and noarch/, repodata ours or createrepo_c's."""
    for path in rpm_paths:
        arch_dir = root / ("noarch" if path.name.endswith(".noarch.rpm") else "x86_64")
        arch_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, arch_dir / path.name)
    if not ours:
        subprocess.run(["createrepo_c", "--quiet", str(root)], check=True, capture_output=True)
        return
    packages = list(existing or [])
    for path in rpm_paths:
        prefix = "noarch/" if path.name.endswith(".noarch.rpm") else "x86_64/"
        packages.extend(packages_from_rpms([root / prefix / path.name], prefix))
    files = write_repodata(packages, TIMESTAMP)
    shutil.rmtree(root / "repodata", ignore_errors=True)
    for relpath, data in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)


def reader(root: Path):
    return lambda relpath: (root / relpath).read_bytes()


def primary_packages(root: Path) -> dict:
    repomd = ET.parse(root / "repodata/repomd.xml").getroot()
    href = next(data.find("{http://linux.duke.edu/metadata/repo}location").get("href")
                for data in repomd if data.get("type") == "primary")
    return {package.findtext(C + "name"): package
            for package in ET.fromstring(gzip.decompress((root / href).read_bytes())).findall(C + "package")}


def normalise(package: ET.Element) -> dict:
    """The package-level facts of a primary entry, ignoring what legitimately differs (file mtimes)."""
    fmt = package.find(C + "format")
    deps = {}
    for kind in ("provides", "requires", "conflicts", "obsoletes"):
        container = fmt.find(R + kind)
        deps[kind] = sorted(tuple(sorted(entry.attrib.items())) for entry in container) if container is not None else []
    return {
        "name": package.findtext(C + "name"), "arch": package.findtext(C + "arch"),
        "version": dict(package.find(C + "version").attrib),
        "checksum": package.findtext(C + "checksum"), "location": package.find(C + "location").get("href"),
        "size": dict(package.find(C + "size").attrib), "summary": package.findtext(C + "summary"),
        "description": package.findtext(C + "description"), "url": package.findtext(C + "url"),
        "build_time": package.find(C + "time").get("build"),
        "header_range": dict(fmt.find(R + "header-range").attrib),
        "license": fmt.findtext(R + "license"), "sourcerpm": fmt.findtext(R + "sourcerpm"),
        "buildhost": fmt.findtext(R + "buildhost"), "deps": deps,
        "files": sorted((item.text, item.get("type")) for item in fmt.findall(C + "file")),
    }


def test_primary_matches_createrepo_c(rpms, tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    make_repo(ours, list(rpms.values()))
    make_repo(theirs, list(rpms.values()), ours=False)
    mine, reference = primary_packages(ours), primary_packages(theirs)
    assert sorted(mine) == sorted(reference)
    for name in reference:
        assert normalise(mine[name]) == normalise(reference[name]), name


def test_round_trip_through_our_reader(rpms, tmp_path):
    make_repo(tmp_path, list(rpms.values()))
    packages = {package.name: package for package in parse_repodata(reader(tmp_path))}
    assert sorted(packages) == sorted(rpms)
    keepalived = packages["keepalived"]
    assert keepalived.location_href == "x86_64/keepalived-2.2.7-3.ph5.x86_64.rpm"
    assert "/usr/sbin/keepalived" in keepalived.files and "/etc/keepalived/keepalived.conf" in keepalived.files
    assert {str(dep) for dep in keepalived.requires} >= {"net-snmp >= 5.9", "/bin/sh"}


def test_identical_input_gives_identical_bytes(rpms, tmp_path):
    one = write_repodata(packages_from_rpms(list(rpms.values()), "x86_64/"), TIMESTAMP)
    two = write_repodata(list(reversed(packages_from_rpms(list(rpms.values()), "x86_64/"))), TIMESTAMP)
    assert one == two


def test_adding_to_a_createrepo_repository_keeps_its_entries(rpms, tmp_path):
    base = [rpms["bash"], rpms["perl"], rpms["net-snmp"], rpms["systemd"]]
    make_repo(tmp_path, base, ours=False)
    before = {name: ET.tostring(element) for name, element in primary_packages(tmp_path).items()}
    existing = parse_repodata(reader(tmp_path))
    make_repo(tmp_path, [rpms["keepalived"], rpms["libnl"]], existing=existing)
    after = primary_packages(tmp_path)
    assert sorted(after) == sorted(["bash", "perl", "net-snmp", "systemd", "keepalived", "libnl"])
    for name in before:  # kept element for element
        assert normalise(ET.fromstring(before[name])) == normalise(after[name])
    filelists = {package.name: package.files for package in parse_repodata(reader(tmp_path))}
    assert "/etc/bashrc" in filelists["bash"]


def dnf(root: Path, tmp_path: Path, *args):
    return subprocess.run(
        ["dnf", "--disablerepo=*", f"--repofrompath=test,file://{root}", "--enablerepo=test",
         "--setopt=reposdir=/dev/null", f"--setopt=cachedir={tmp_path / 'cache'}", "--nogpgcheck",
         f"--installroot={tmp_path / 'root'}", "--releasever=5.0", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_dnf_resolves_through_file_library_and_versioned_requires(rpms, tmp_path):
    if shutil.which("dnf") is None:
        pytest.skip("needs dnf (installed by scripts/test)")
    root = tmp_path / "repo"
    make_repo(root, list(rpms.values()))
    result = dnf(root, tmp_path, "repoquery", "--requires", "--resolve", "keepalived")
    assert result.returncode == 0, result.stderr
    for name in ("bash", "libnl", "net-snmp", "systemd"):
        assert name in result.stdout
    result = dnf(root, tmp_path, "install", "--assumeno", "keepalived")
    # --assumeno ends with "Operation aborted"; the transaction it shows is the resolved closure
    assert "perl" in result.stdout + result.stderr and "Problem" not in result.stdout + result.stderr


def test_corrupt_metadata_is_caught(rpms, tmp_path):
    make_repo(tmp_path, [rpms["bash"]])
    primary = next((tmp_path / "repodata").glob("*-primary.xml.gz"))
    data = bytearray(primary.read_bytes())
    data[-10] ^= 0xFF
    primary.write_bytes(bytes(data))
    with pytest.raises(InvalidArtifact, match="checksum mismatch"):
        parse_repodata(reader(tmp_path))
    (tmp_path / "repodata/repomd.xml").write_text("<!DOCTYPE x [<!ENTITY a 'b'>]><repomd/>")
    with pytest.raises(InvalidArtifact, match="DOCTYPE"):
        parse_repodata(reader(tmp_path))
