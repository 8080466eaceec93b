"""The closure check names what is missing and who needs it."""

from builder.depsolve import Missing, check_closure, closure
from builder.repodata import packages_from_rpms


def repo(rpms, *names):
    return [package for name in names for package in packages_from_rpms([rpms[name]], "x86_64/")]


def test_complete_closure_resolves_through_files_libraries_and_versions(rpms):
    packages = repo(rpms, "bash", "libnl", "net-snmp", "perl", "keepalived", "systemd")
    assert check_closure(["keepalived"], packages) == []
    assert sorted(package.name for package in closure(["keepalived"], packages)) == [
        "bash", "keepalived", "libnl", "net-snmp", "perl", "systemd"]


def test_missing_capabilities_name_who_needs_them(rpms):
    packages = repo(rpms, "bash", "libnl", "net-snmp", "keepalived", "systemd")
    assert check_closure(["keepalived", "haproxy"], packages) == [
        Missing("haproxy", "profile package list"),
        Missing("perl(Carp)", "net-snmp-5.9.4-2.ph5.x86_64"),
    ]


def test_versioned_requirement_not_met_by_an_older_package(rpms):
    packages = repo(rpms, "net-snmp", "perl", "old-tool")
    assert check_closure(["old-tool"], packages) == [Missing("net-snmp >= 6.0", "old-tool-1.0~rc1-1.noarch")]


def test_versioned_wanted_name(rpms):
    packages = repo(rpms, "bash")
    assert check_closure(["bash >= 5.0"], packages) == []
    assert check_closure(["bash >= 6"], packages) == [Missing("bash >= 6", "profile package list")]


def test_rich_dependencies(rpms):
    packages = repo(rpms, "bash", "perl")
    from builder.depsolve import _resolve, Repository, _requirement

    repository = Repository(packages)
    assert _resolve(repository, _requirement("(haproxy or bash)"), []).name == "bash"
    assert _resolve(repository, _requirement("(haproxy or nginx)"), []) is None
    assert _resolve(repository, _requirement("(bash and haproxy)"), []) is None
