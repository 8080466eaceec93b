"""RPM headers read in pure Python agree with rpm itself."""

import subprocess

import pytest

from builder.errors import InvalidArtifact
from builder.rpmhdr import IndexEntry, Lead, compare_evr, read_rpm, rpmvercmp


def rpm_query(path, queryformat):
    return subprocess.run(["rpm", "-qp", "--nosignature", "--queryformat", queryformat, str(path)],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", ["keepalived", "bash", "old-tool"])
def test_fields_match_rpm(rpms, name):
    path = rpms[name]
    package = read_rpm(path)
    expected = rpm_query(path, "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SIZE}|%{BUILDTIME}|%{SOURCERPM}")
    assert "|".join([package.name, package.version, package.release, package.arch, str(package.installed_size),
                     str(package.build_time), package.sourcerpm]) == expected
    requires = [line for line in rpm_query(path, "[%{REQUIRENEVRS}\n]").splitlines()
                if not line.startswith("rpmlib(")]
    assert sorted(str(dep) for dep in package.requires) == sorted(requires)
    provides = rpm_query(path, "[%{PROVIDENEVRS}\n]").splitlines()
    assert sorted(str(dep) for dep in package.provides) == sorted(provides)
    files = rpm_query(path, "[%{FILENAMES}\n]").splitlines()
    assert [item.path for item in package.files] == [line for line in files if line != "(none)"]


def test_bad_files_are_refused_with_a_reason(tmp_path, rpms):
    empty = tmp_path / "empty.rpm"
    empty.write_bytes(b"")
    text = tmp_path / "text.rpm"
    text.write_text("hello\n" * 100)
    truncated = tmp_path / "truncated.rpm"
    truncated.write_bytes(rpms["bash"].read_bytes()[:200])
    for path, reason in ((empty, "96-byte lead"), (text, "bad lead magic"), (truncated, "truncated")):
        with pytest.raises(InvalidArtifact, match=reason) as info:
            read_rpm(path)
        assert path.name in str(info.value)


def test_structures_round_trip():
    lead = Lead(3, 0, 0, 1, b"foo".ljust(66, b"\0"), 1, 5)
    assert Lead.parse(lead.record()) == lead
    entry = IndexEntry(1000, 6, 0, 1)
    assert IndexEntry.parse(entry.record()) == entry


@pytest.mark.parametrize("a, b, expected", [
    ("1.0", "1.0", 0), ("1.10", "1.9", 1), ("1.0~rc1", "1.0", -1), ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.0.1", -1), ("2.0a", "2.0", 1), ("001", "1", 0), ("a", "1", -1), ("5.9.4", "6.0", -1),
])
def test_rpmvercmp_agrees_with_rpm(a, b, expected):
    assert rpmvercmp(a, b) == expected
    assert rpmvercmp(b, a) == -expected
    # rpm's own answer: the %{lua: rpm.vercmp(...)} macro of the installed rpm
    result = subprocess.run(["rpm", "--eval", f"%{{lua: print(rpm.vercmp('{a}', '{b}'))}}"],
                            capture_output=True, text=True, check=True)
    assert int(result.stdout.strip()) == expected


def test_epoch_wins_over_version():
    assert compare_evr(("1", "1.0", "1"), ("0", "9.9", "9")) == 1
    assert compare_evr(("0", "1.0", ""), ("0", "1.0", "5")) == 0  # no release: any release matches
