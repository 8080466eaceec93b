"""Real RPMs (rpmbuild), built once per session, and the helpers the repository tests share.

The fixture set is a small Photon-like repository: keepalived's Requires go
through a primary file (/bin/sh), a file only filelists lists
(/usr/lib/libnl-3.so.200), a library soname, a versioned package
requirement, a versioned Provides (perl(Carp) >= 1.50) and an epoch.
"""

import gzip
import hashlib
import lzma
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from builder.repo.repodata import NS_REPO, packages_from_rpms, write_repodata

from .rpmfixtures import build_rpm

TIMESTAMP = 1704067200
REPO = "{%s}" % NS_REPO

# Twelve entries, some sharing a day, newest first as rpm wants them: createrepo keeps ten and
# makes equal timestamps distinct.
CHANGELOG = "".join(
    f"* {day} Jan {date:02d} 2024 Packager {number} <p{number}@example.invalid> - 2.2.7-{number}\n"
    f"- Change {number}, with <markup> & \"quotes\".\n\n"
    for number, (day, date) in zip(range(12, 0, -1), [("Fri", 12), ("Fri", 12), ("Thu", 11), ("Wed", 10),
                                                      ("Wed", 10), ("Wed", 10), ("Tue", 9), ("Mon", 8),
                                                      ("Sun", 7), ("Sat", 6), ("Fri", 5), ("Thu", 4)])
)


@pytest.fixture(scope="session")
def rpms(tmp_path_factory) -> dict[str, Path]:
    """Fixture RPMs by name (file paths under the session's temporary directory)."""
    if shutil.which("rpmbuild") is None:
        pytest.skip("needs rpmbuild (installed by scripts/test)")
    workdir = tmp_path_factory.mktemp("rpms")
    return {
        "glibc": build_rpm(workdir, "glibc", "2.36", "10.ph5", arch="x86_64",
                           provides=["libc.so.6()(64bit)", "libc.so.6(GLIBC_2.2.5)(64bit)",
                                     "libc.so.6(GLIBC_2.34)(64bit)"],
                           files={"/usr/lib/libc.so.6": b"\x7fELF"}),
        "bash": build_rpm(workdir, "bash", "5.2.15", "1.ph5", arch="x86_64",
                          # both are met by bash itself, so createrepo leaves them out of primary
                          requires=["/bin/sh", "bash(x86-64) = 5.2.15-1.ph5", "libc.so.6()(64bit)"],
                          files={"/bin/bash": "#!x\n", "/bin/sh": "#!x\n", "/etc/bashrc": "# rc\n"},
                          summary="The GNU Bourne Again shell: <&> \"quoted\" caf\u00e9"),
        "libnl": build_rpm(workdir, "libnl", "3.7.0", "1.ph5", arch="x86_64",
                           provides=["libnl-3.so.200()(64bit)"],
                           files={"/usr/lib/libnl-3.so.200": b"\x7fELF"}),
        "perl": build_rpm(workdir, "perl", "5.36.0", "1.ph5", arch="x86_64", provides=["perl(Carp) = 1.52"],
                          files={"/usr/bin/perl": "#!x\n"}),
        "perl-old": build_rpm(workdir, "perl-old", "5.10.0", "1", arch="x86_64", provides=["perl(Carp) = 1.40"]),
        "net-snmp": build_rpm(workdir, "net-snmp", "5.9.4", "2.ph5", arch="x86_64",
                              requires=["perl(Carp) >= 1.50", "/usr/bin/perl"],
                              files={"/usr/sbin/snmpd": "#!x\n"}),
        "net-snmp-older": build_rpm(workdir, "net-snmp", "5.9.1", "1.ph5", arch="x86_64",
                                    requires=["perl(Carp) >= 1.50"]),
        "systemd": build_rpm(workdir, "systemd", "253.12", "1.ph5", arch="x86_64", epoch=1,
                             dirs=["/etc/systemd"], files={"/usr/bin/systemctl": "#!x\n"}),
        "keepalived": build_rpm(
            workdir, "keepalived", "2.2.7", "3.ph5", arch="x86_64",
            requires=["/bin/sh", "/usr/lib/libnl-3.so.200", "libnl-3.so.200()(64bit)", "net-snmp >= 5.9",
                      "systemd >= 253", "libc.so.6(GLIBC_2.2.5)(64bit)", "libc.so.6(GLIBC_2.34)(64bit)",
                      "libc.so.6()(64bit)"],
            files={"/usr/sbin/keepalived": "#!x\n", "/etc/keepalived/keepalived.conf": "# conf\n"},
            dirs=["/etc/keepalived"], ghosts=["/run/keepalived.pid"],
            scripts={"post": "/bin/true"},
            tags=["Recommends: ipset", "Suggests: keepalived-doc", "Conflicts: keepalived-legacy < 2",
                  "Obsoletes: keepalived-legacy < 2", "Requires(pre): /usr/bin/systemctl"],
            changelog=CHANGELOG,
        ),
        "old-tool": build_rpm(workdir, "old-tool", "1.0~rc1", "1", requires=["net-snmp >= 6.0"]),
        "lb-tools": build_rpm(workdir, "lb-tools", "0.1", "1", requires=["(haproxy or bash)", "(libnl if perl)"]),
    }


def repo_dir_for(path: Path) -> str:
    """Photon's layout: noarch/ or x86_64/ under the repository root."""
    return "noarch" if path.name.endswith(".noarch.rpm") else "x86_64"


def copy_rpms(root: Path, rpm_paths) -> list[Path]:
    """Copy RPMs into root/<arch>/ and return their new paths."""
    copies = []
    for path in rpm_paths:
        target = root / repo_dir_for(path) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)  # keeps mtimes, so <time file> is the same for everyone
        copies.append(target)
    return copies


def write_ours(root: Path, rpm_paths, existing=()) -> dict[str, bytes]:
    """RPMs into root, repodata by builder.repodata (existing entries kept); returns the files written."""
    packages = list(existing)
    for path in copy_rpms(root, rpm_paths):
        packages.extend(packages_from_rpms([path], repo_dir_for(path) + "/"))
    files = write_repodata(packages, TIMESTAMP)
    shutil.rmtree(root / "repodata", ignore_errors=True)
    for relpath, data in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)
    return files


def write_createrepo(root: Path, rpm_paths) -> None:
    """RPMs into root, repodata by createrepo_c (with its sqlite databases, as Photon's ISOs have)."""
    copy_rpms(root, rpm_paths)
    subprocess.run(["createrepo_c", "--quiet", "--database", str(root)], check=True, capture_output=True,
                   timeout=120)


def reader(root: Path):
    """A parse_repodata reader for a repository directory."""
    return lambda relpath: (root / relpath).read_bytes()


def metadata_path(root: Path, kind: str) -> Path:
    """Where repomd.xml says the `kind` metadata is."""
    repomd = ET.parse(root / "repodata/repomd.xml").getroot()
    entry = next(data for data in repomd.findall(REPO + "data") if data.get("type") == kind)
    return root / entry.find(REPO + "location").get("href")


def package_elements(root: Path, kind: str) -> dict[str, ET.Element]:
    """The <package> elements of one metadata file, by pkgid."""
    document = ET.fromstring(gzip.decompress(metadata_path(root, kind).read_bytes()))
    found = {}
    for element in document:
        pkgid = element.get("pkgid") or element.findtext("{http://linux.duke.edu/metadata/common}checksum")
        found[pkgid] = element
    return found


def replace_metadata(root: Path, kind: str, xml: bytes, compression: str = "gz") -> Path:
    """Swap the `kind` metadata for `xml` (compressed as asked) and fix repomd.xml to match."""
    data = {"gz": lambda raw: gzip.compress(raw, mtime=0), "xz": lzma.compress, "none": bytes}[compression](xml)
    old = metadata_path(root, kind)
    new = old.parent / f"{kind}.xml{'' if compression == 'none' else '.' + compression}"
    old.unlink()
    new.write_bytes(data)
    tree = ET.parse(root / "repodata/repomd.xml")
    entry = next(item for item in tree.getroot().findall(REPO + "data") if item.get("type") == kind)
    entry.find(REPO + "checksum").text = hashlib.sha256(data).hexdigest()
    entry.find(REPO + "open-checksum").text = hashlib.sha256(xml).hexdigest()
    entry.find(REPO + "location").set("href", f"repodata/{new.name}")
    ET.register_namespace("", NS_REPO)
    tree.write(root / "repodata/repomd.xml", xml_declaration=True, encoding="UTF-8")
    return new


@pytest.fixture(scope="session")
def dnf_available():
    if shutil.which("dnf") is None:
        pytest.skip("needs dnf (installed by scripts/test)")


@pytest.fixture
def dnf(tmp_path, dnf_available):
    """Run dnf against one local repository only, offline, with everything it writes under tmp_path.

    It runs in a new network namespace when it can (as root), so any attempt
    to reach the internet fails instead of passing unnoticed.
    """
    offline = ["unshare", "--net"] if shutil.which("unshare") and subprocess.run(
        ["unshare", "--net", "true"], capture_output=True).returncode == 0 else []

    def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            offline + [
                "dnf", "--disableplugin=*", "--disablerepo=*", f"--repofrompath=test,{repo.as_uri()}",
                "--enablerepo=test", "--setopt=reposdir=/dev/null", "--setopt=test.skip_if_unavailable=False",
                f"--setopt=cachedir={tmp_path / 'dnf-cache'}",
                "--setopt=install_weak_deps=False", "--nogpgcheck", f"--installroot={tmp_path / 'dnf-root'}",
                "--releasever=5.0", *args,
            ],
            capture_output=True, text=True, timeout=120,
        )

    return run
