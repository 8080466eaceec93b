"""The closure check names what is missing and who needs it; closure() lists what a resolver would install."""

import pytest

from builder.repo.depsolve import Missing, Rich, check_closure, closure, parse_requirement
from builder.repo.repodata import packages_from_rpms, parse_repodata
from builder.repo.rpmhdr import Dependency

from .conftest import reader, write_ours

KEEPALIVED_CLOSURE = ["bash", "glibc", "keepalived", "libnl", "net-snmp", "perl", "systemd"]


def repo(rpms, *names):
    """Repository entries for fixture RPMs, made straight from the files."""
    return [package for name in names for package in packages_from_rpms([rpms[name]], "x86_64/")]


def names(packages):
    return [package.name for package in packages]


def test_complete_closure_through_files_libraries_versions_and_epochs(rpms):
    packages = repo(rpms, "glibc", "bash", "libnl", "net-snmp", "perl", "systemd", "keepalived", "old-tool")
    assert check_closure(["keepalived"], packages) == []
    assert names(closure(["keepalived"], packages)) == KEEPALIVED_CLOSURE


def test_the_same_from_written_repodata(rpms, tmp_path):
    """Through our repodata: /usr/lib/libnl-3.so.200 is only in filelists, so primary alone misses it."""
    write_ours(tmp_path, [rpms[name] for name in ("glibc", "bash", "libnl", "net-snmp", "perl", "systemd",
                                                  "keepalived")])
    assert check_closure(["keepalived"], parse_repodata(reader(tmp_path))) == []
    primary_only = parse_repodata(reader(tmp_path), filelists=False)
    without_libnl = [package for package in primary_only if package.name != "libnl"]
    assert check_closure(["keepalived"], without_libnl) == [
        Missing("/usr/lib/libnl-3.so.200", "keepalived-2.2.7-3.ph5.x86_64"),
        Missing("libnl-3.so.200()(64bit)", "keepalived-2.2.7-3.ph5.x86_64"),
    ]
    libnl_only = [package for package in primary_only if package.name != "keepalived"]
    assert check_closure(["/usr/lib/libnl-3.so.200"], libnl_only) == [
        Missing("/usr/lib/libnl-3.so.200", "profile package list")]  # primary does not list it


def test_missing_capabilities_name_who_needs_them(rpms):
    packages = repo(rpms, "glibc", "bash", "libnl", "net-snmp", "systemd", "keepalived")
    assert check_closure(["keepalived", "haproxy"], packages) == [
        Missing("/usr/bin/perl", "net-snmp-5.9.4-2.ph5.x86_64"),
        Missing("haproxy", "profile package list"),
        Missing("perl(Carp) >= 1.50", "net-snmp-5.9.4-2.ph5.x86_64"),
    ]
    # what can be found is still listed, so a fetch knows what to download
    assert names(closure(["keepalived", "haproxy"], packages)) == [
        "bash", "glibc", "keepalived", "libnl", "net-snmp", "systemd"]


def test_versioned_requirements_need_new_enough_providers(rpms):
    # old-tool wants net-snmp >= 6.0; only 5.9.x exists
    packages = repo(rpms, "net-snmp", "perl", "old-tool")
    assert check_closure(["old-tool"], packages) == [Missing("net-snmp >= 6.0", "old-tool-1.0~rc1-1.noarch")]
    # net-snmp wants perl(Carp) >= 1.50; perl-old provides only 1.40
    packages = repo(rpms, "net-snmp", "perl-old")
    assert check_closure(["net-snmp"], packages) == [
        Missing("/usr/bin/perl", "net-snmp-5.9.4-2.ph5.x86_64"),
        Missing("perl(Carp) >= 1.50", "net-snmp-5.9.4-2.ph5.x86_64"),
    ]
    # an epoch outranks any version: systemd 1:253 satisfies "systemd >= 300"
    assert check_closure(["systemd >= 300"], repo(rpms, "systemd")) == []
    assert check_closure(["bash >= 6"], repo(rpms, "bash", "glibc")) == [Missing("bash >= 6", "profile package list")]


def test_newest_provider_is_chosen(rpms):
    packages = repo(rpms, "net-snmp-older", "net-snmp", "perl", "perl-old")
    (snmp,) = [package for package in closure(["net-snmp"], packages) if package.name == "net-snmp"]
    assert snmp.version == "5.9.4"
    assert names(closure(["net-snmp"], packages)) == ["net-snmp", "perl"]  # perl-old's Carp is too old
    # the answer does not depend on the order of the repository
    assert closure(["net-snmp"], list(reversed(packages))) == closure(["net-snmp"], packages)


def test_rich_dependencies(rpms):
    packages = repo(rpms, "glibc", "bash", "libnl", "perl", "lb-tools")
    # (haproxy or bash): bash; (libnl if perl): only when perl is in
    assert names(closure(["lb-tools"], packages)) == ["bash", "glibc", "lb-tools"]
    assert names(closure(["lb-tools", "perl"], packages)) == ["bash", "glibc", "lb-tools", "libnl", "perl"]
    assert check_closure(["lb-tools"], repo(rpms, "lb-tools")) == [
        Missing("(haproxy or bash)", "lb-tools-0.1-1.noarch")]
    assert check_closure(["(bash and haproxy)"], packages) == [
        Missing("(bash and haproxy)", "profile package list")]
    assert check_closure(["(haproxy unless bash)", "bash"], packages) == []
    assert check_closure(["(perl(Carp) >= 1.50 with perl)"], packages) == []
    assert check_closure(["(what is this"], packages) == []  # unknown syntax is left to tdnf


def test_missing_list_is_sorted_and_deterministic(rpms):
    packages = repo(rpms, "keepalived", "old-tool")
    first = check_closure(["old-tool", "keepalived", "zzz", "aaa"], packages)
    assert first == sorted(first, key=lambda item: (item.capability, item.needed_by))
    assert first == check_closure(["aaa", "keepalived", "zzz", "old-tool"], list(reversed(packages)))


@pytest.mark.parametrize("text, expected", [
    ("bash", Dependency("bash")),
    ("bash >= 5.0", Dependency("bash", "GE", "0", "5.0")),
    ("systemd = 1:253-1.ph5", Dependency("systemd", "EQ", "1", "253", "1.ph5")),
    ("libc.so.6(GLIBC_2.34)(64bit)", Dependency("libc.so.6(GLIBC_2.34)(64bit)")),
    ("(perl(Carp) >= 1.50 or libc.so.6()(64bit))",
     Rich("or", (Dependency("perl(Carp)", "GE", "0", "1.50"), Dependency("libc.so.6()(64bit)")),
          "(perl(Carp) >= 1.50 or libc.so.6()(64bit))")),
    ("(a if b else (c and d))",
     Rich("if", (Dependency("a"), Dependency("b"), Rich("and", (Dependency("c"), Dependency("d")), "(c and d)")),
          "(a if b else (c and d))")),
    ("(a or b and c)", Rich("unknown", (), "(a or b and c)")),  # rpm wants parentheses here
])
def test_requirement_syntax(text, expected):
    assert parse_requirement(text) == expected
