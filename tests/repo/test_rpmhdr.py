"""RPM headers read in pure Python agree with rpm itself, and broken files are refused with a reason."""

import hashlib
import os
import subprocess
import tracemalloc

import pytest

from builder.errors import InvalidArtifact
from builder.repo.rpmhdr import (
    Dependency,
    Header,
    HeaderIntro,
    IndexEntry,
    Lead,
    compare_evr,
    ranges_overlap,
    read_header,
    read_rpm,
    rpmvercmp,
)

from .conftest import package_elements, write_createrepo

SEP = "\x1f"  # between fields of one rpm --queryformat answer; no fixture text contains it


def rpm_query(path, queryformat: str) -> str:
    return subprocess.run(["rpm", "-qp", "--nosignature", "--nodigest", "--queryformat", queryformat, str(path)],
                          capture_output=True, text=True, check=True).stdout


def rpm_list(path, tag: str) -> list[str]:
    """One array tag, a value a line ("=" marks each, so empty values survive)."""
    lines = rpm_query(path, f"[=%{{{tag}}}\\n]").splitlines()
    return [line[1:] for line in lines if line.startswith("=") and line != "=(none)"]


ALL = ["glibc", "bash", "libnl", "perl", "perl-old", "net-snmp", "net-snmp-older", "systemd", "keepalived",
       "old-tool", "lb-tools"]


@pytest.mark.parametrize("name", ALL)
def test_fields_match_rpm(rpms, name):
    path = rpms[name]
    package = read_rpm(path)
    tags = ["NAME", "EPOCHNUM", "VERSION", "RELEASE", "ARCH", "LONGSIZE", "LONGARCHIVESIZE", "BUILDTIME",
            "BUILDHOST", "SOURCERPM", "LICENSE", "URL", "SUMMARY", "GROUP", "VENDOR", "PACKAGER", "DESCRIPTION"]
    expected = rpm_query(path, SEP.join(f"%{{{tag}}}" for tag in tags)).split(SEP)
    expected = ["" if value == "(none)" else value for value in expected]
    ours = [package.name, package.epoch, package.version, package.release, package.arch, package.installed_size,
            package.archive_size, package.build_time, package.buildhost, package.sourcerpm, package.license,
            package.url, package.summary, package.group, package.vendor, package.packager, package.description]
    assert [str(value) for value in ours] == expected
    assert package.package_size == path.stat().st_size
    assert package.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()

    requires = [line for line in rpm_list(path, "REQUIRENEVRS") if not line.startswith("rpmlib(")]
    assert [str(dep) for dep in package.requires] == requires
    # pre="1" bits: rpm's own reading of each requirement's flags
    flags = [int(value) for value, name in zip(rpm_list(path, "REQUIREFLAGS"), rpm_list(path, "REQUIRENAME"))
             if not name.startswith("rpmlib(")]
    assert [dep.pre for dep in package.requires] == [bool(value & (0x40 | 0x80 | 0x200 | 0x400 | 0x20))
                                                     for value in flags]
    for kind, tag in (("provides", "PROVIDENEVRS"), ("conflicts", "CONFLICTNEVRS"), ("obsoletes", "OBSOLETENEVRS"),
                      ("recommends", "RECOMMENDNEVRS"), ("suggests", "SUGGESTNEVRS"),
                      ("supplements", "SUPPLEMENTNEVRS"), ("enhances", "ENHANCENEVRS")):
        assert [str(dep) for dep in getattr(package, kind)] == rpm_list(path, tag), kind

    assert [item.path for item in package.files] == rpm_list(path, "FILENAMES")
    modes = rpm_list(path, "FILEMODES:perms")
    assert [item.is_dir for item in package.files] == [mode.startswith("d") for mode in modes]
    assert [item.is_ghost for item in package.files] == ["g" in flag for flag in rpm_list(path, "FILEFLAGS:fflags")]
    changelog = rpm_query(path, f"[%{{CHANGELOGTIME}}{SEP}%{{CHANGELOGNAME}}{SEP}%{{CHANGELOGTEXT}}{SEP}{SEP}]")
    assert [(str(item.time), item.author, item.text) for item in package.changelog] == [
        tuple(entry.split(SEP)) for entry in changelog.split(SEP * 2) if entry]


def test_epoch_weak_deps_and_scriptlet_requires(rpms):
    systemd = read_rpm(rpms["systemd"])
    assert (systemd.epoch, systemd.nevra) == ("1", "systemd-1:253.12-1.ph5.x86_64")
    assert Dependency("systemd", "EQ", "1", "253.12", "1.ph5") in systemd.provides
    keepalived = read_rpm(rpms["keepalived"])
    assert [str(dep) for dep in keepalived.recommends] == ["ipset"]
    assert [str(dep) for dep in keepalived.conflicts] == ["keepalived-legacy < 2"]
    # %post makes rpmbuild add Requires(post): /bin/sh; Requires(pre) is explicit
    assert Dependency("/bin/sh", pre=True) in keepalived.requires
    assert Dependency("/usr/bin/systemctl", pre=True) in keepalived.requires
    assert Dependency("/bin/sh", pre=False) in keepalived.requires
    assert [item.kind for item in keepalived.files if item.kind] == ["dir", "ghost"]


def test_header_range_and_sizes_match_createrepo(rpms, tmp_path):
    write_createrepo(tmp_path, rpms.values())
    reference = package_elements(tmp_path, "primary")
    common, rpm_ns = "{http://linux.duke.edu/metadata/common}", "{http://linux.duke.edu/metadata/rpm}"
    for path in rpms.values():
        package = read_rpm(path)
        element = reference[package.sha256]
        header_range = element.find(f"{common}format/{rpm_ns}header-range")
        assert (package.header_start, package.header_end) == (int(header_range.get("start")),
                                                              int(header_range.get("end")))
        size = element.find(common + "size")
        assert (package.package_size, package.installed_size, package.archive_size) == (
            int(size.get("package")), int(size.get("installed")), int(size.get("archive")))


def test_the_file_is_hashed_in_blocks(rpms, tmp_path):
    """A big payload (here 48 MiB appended) is streamed through SHA-256, never held in memory."""
    big = tmp_path / "big.rpm"
    with open(big, "wb") as out:
        out.write(rpms["bash"].read_bytes())
        block = os.urandom(1 << 20)
        for _ in range(48):
            out.write(block)
    tracemalloc.start()
    try:
        package = read_rpm(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert package.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    assert peak < 8 << 20


def test_bad_files_are_refused_with_a_reason(tmp_path, rpms):
    data = rpms["bash"].read_bytes()
    signature_end = 96 + HeaderIntro.parse(data, 96).length
    cases = {
        "empty.rpm": (b"", "not an RPM (empty file)"),
        "text.rpm": (b"hello\n" * 100, "not an RPM (bad lead magic)"),
        "lead-only.rpm": (data[:50], "truncated RPM (only 50 bytes; the lead alone is 96)"),
        "in-signature.rpm": (data[:200], "truncated RPM (a header is shorter than its index says)"),
        "no-main.rpm": (data[:signature_end + (-signature_end % 8) + 4],
                        "truncated RPM (a header ends inside its 16-byte intro)"),
        "bad-header.rpm": (data[:96] + b"\0" * 16 + data[112:], "not an RPM (bad header magic)"),
        "source-sig.rpm": (data[:78] + b"\0\x01" + data[80:], "unsupported RPM signature type 1"),
        "v2.rpm": (data[:4] + b"\x02" + data[5:], "unsupported RPM format version 2"),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InvalidArtifact) as info:
            read_rpm(path)
        assert str(info.value).startswith(f"{path}: {reason}"), str(info.value)
    with pytest.raises(InvalidArtifact, match="cannot be read"):
        read_rpm(tmp_path / "absent.rpm")
    with pytest.raises(InvalidArtifact, match="cannot be read"):
        read_rpm(tmp_path)


def test_malformed_index_entries_are_refused():
    def header(*entries, store=bytes(16)):
        return Header(tuple(entries), store).record()

    with pytest.raises(InvalidArtifact, match="unknown data type 12"):
        Header.parse(header(IndexEntry(1000, 12, 0, 1)))
    with pytest.raises(InvalidArtifact, match="misaligned"):
        Header.parse(header(IndexEntry(1009, 4, 2, 1)))
    with pytest.raises(InvalidArtifact, match="outside the header store"):
        Header.parse(header(IndexEntry(1000, 6, 17, 1)))
    with pytest.raises(InvalidArtifact, match="implausible size"):
        HeaderIntro.parse(HeaderIntro(0, 0).record())
    with pytest.raises(InvalidArtifact, match="runs past"):
        Header.parse(header(IndexEntry(1009, 4, 12, 2))).value(1009)
    with pytest.raises(InvalidArtifact, match="unterminated"):
        Header.parse(header(IndexEntry(1000, 6, 0, 1), store=b"abc")).value(1000)


def test_structures_round_trip(rpms):
    lead = Lead(3, 0, 0, 1, b"foo-1.0-1", 1, 5)
    assert Lead.parse(lead.record()) == lead
    intro = HeaderIntro(12, 345)
    assert HeaderIntro.parse(intro.record()) == intro
    entry = IndexEntry(1000, 6, 0, 1)
    assert IndexEntry.parse(entry.record()) == entry
    # and the other way round, on a real file: every byte up to the payload comes back
    data = rpms["keepalived"].read_bytes()
    assert Lead.parse(data).record() == data[:96]
    with open(rpms["keepalived"], "rb") as fp:
        signature = read_header(fp, 96)
        main = read_header(fp, signature.end + (-signature.end % 8))
    assert signature.record() == data[96 : signature.end]
    assert main.record() == data[main.start : main.end]
    assert Header.parse(main.record(), main.start) == main


RPMVERCMP_CASES = [
    ("1.0", "1.0"), ("1.0", "1.0.0"), ("1.10", "1.9"), ("2.0a", "2.0"), ("2.0", "2.0.a"), ("001", "1"),
    ("a", "1"), ("a", "b"), ("abc", "abcd"), ("5.9.4", "6.0"), ("1.0~rc1", "1.0"), ("1.0~rc1", "1.0~rc2"),
    ("1.0~~", "1.0~"), ("1.0~", "1.0"), ("1.0^git1", "1.0"), ("1.0^git1", "1.0.1"), ("1.0^", "1.0"),
    ("1.0^git1", "1.0^git2"), ("1.0~rc1^git1", "1.0~rc1"), ("1_0", "1.0"), ("1+0", "1.0"), ("1.0", "1..0"),
    ("10.0001", "10.1"), ("2.36", "2.4"), ("x86_64", "x86"), ("1.ph5", "1.ph4"), ("1.1.ph5", "1.ph5"),
    ("1\u00e9", "1e"), ("\u00b2", "2"), ("1.0a", "1.0.1"),
]


def test_rpmvercmp_agrees_with_rpm():
    """Our answers against rpm's own rpm.vercmp (lua inside `rpm --eval`), in one call."""
    calls = " .. ' ' .. ".join(f"rpm.vercmp({a!r}, {b!r})" for a, b in RPMVERCMP_CASES)
    result = subprocess.run(["rpm", "--eval", f"%{{lua: print({calls})}}"], capture_output=True, text=True, check=True)
    expected = [int(word) for word in result.stdout.split()]
    assert [rpmvercmp(a, b) for a, b in RPMVERCMP_CASES] == expected
    assert [rpmvercmp(b, a) for a, b in RPMVERCMP_CASES] == [-value for value in expected]
    # rpm.vercmp refuses empty versions; rpmvercmp.c itself ranks the empty string lowest
    assert (rpmvercmp("", "1"), rpmvercmp("", ""), rpmvercmp("~", "")) == (-1, 0, -1)


def test_evr_comparison():
    assert compare_evr(("1", "1.0", "1"), ("0", "9.9", "9")) == 1
    assert compare_evr(("", "1.0", "1"), ("0", "1.0", "1")) == 0  # no epoch is epoch 0
    assert compare_evr(("0", "1.0", ""), ("0", "1.0", "5")) == 0  # no release: any release matches
    assert compare_evr(("0", "1.0", "2.ph5"), ("0", "1.0", "10.ph5")) == -1


@pytest.mark.parametrize("provide, require, expected", [
    (("EQ", "0", "1.52", None), ("GE", "0", "1.50", None), True),
    (("EQ", "0", "1.40", None), ("GE", "0", "1.50", None), False),
    (("EQ", "1", "253.12", "1.ph5"), ("GE", "0", "300", None), True),  # the epoch wins
    (("EQ", "0", "1.0", "3"), ("GT", "0", "1.0", None), False),  # 1.0-3 is not > 1.0
    (("EQ", "0", "1.0", "3"), ("EQ", "0", "1.0", None), True),  # no release on one side: any release
    (("EQ", "0", "1.0", "3"), ("LT", "0", "1.0", "4"), True),
    (("GE", "0", "2", None), ("LE", "0", "3", None), True),  # ranges overlap
    (("GE", "0", "4", None), ("LE", "0", "3", None), False),
    (("LT", "0", "2", None), ("LT", "0", "1", None), True),
    ((None, None, None, None), ("GE", "0", "99", None), True),  # an unversioned provide satisfies anything
])
def test_ranges_overlap_like_rpm(provide, require, expected):
    one = Dependency("perl(Carp)", *provide)
    two = Dependency("perl(Carp)", *require)
    assert ranges_overlap(one, two) is expected
    assert ranges_overlap(two, one) is expected
