"""fetch_rpms: the closure against ISO + online repositories, only what the ISO lacks, verified; missing names."""

import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.repo.depsolve import check_closure
from builder.fetch.download import NetworkError
from builder.errors import InvalidArtifact, InvalidInput
from builder.fetch.inputs import fetch_rpms, iso_packages, plan_rpms, repo_packages
from builder.repo.repodata import packages_from_rpms, parse_repodata

from .conftest import EXPECTED_DOWNLOAD, RELEASE_REPO, UPDATES_REPO, make_repo_iso

PROFILE_PACKAGES = ["minimal", "linux-esx", "initramfs", "haproxy", "keepalived", "iptables", "python3",
                    "python3-jinja2", "open-vm-tools", "openssh-server", "sudo", "less"]


@pytest.fixture
def minimal_iso(photon_site, tmp_path):
    """A tiny ISO whose /RPMS/repodata lists the minimal ISO's packages (pycdlib, Rock Ridge names)."""
    return make_repo_iso(tmp_path / "photon-minimal-test.iso", photon_site.iso_repodata)


def name_version(paths):
    found = []
    for path in paths:
        package = packages_from_rpms([path], "")[0]
        found.append((package.name, package.version))
    return sorted(found)


def test_closure_fetches_only_what_the_iso_lacks(photon_server, photon_site, minimal_iso, tmp_path):
    on_iso = iso_packages(minimal_iso)
    assert sorted(package.name for package in on_iso) == sorted(photon_site.iso_rpms)
    lines = []
    paths = fetch_rpms("5.0", PROFILE_PACKAGES, on_iso, tmp_path / "extra", mirror=photon_server.url + "/photon",
                       log=lines.append)
    # haproxy needs openssl >= 3.0.9, newer than the ISO's: that one comes from updates; the
    # newer systemd and bash there are not needed, so the ISO's copies stay.
    assert name_version(paths) == EXPECTED_DOWNLOAD
    assert sorted(path.name for path in (tmp_path / "extra").iterdir()) == sorted(path.name for path in paths)
    assert "7 package(s) the ISO lacks" in lines[-1]
    # Together with the ISO everything resolves, which is what build --rpm-dir checks.
    assert check_closure(PROFILE_PACKAGES, on_iso + packages_from_rpms(paths, "x86_64/")) == []
    # Only metadata and the seven RPMs were requested: no filelists/other, nothing the ISO has.
    fetched = [request.target for request in photon_server.requests]
    assert all("filelists" not in target and "other" not in target for target in fetched)
    assert len([target for target in fetched if target.endswith(".rpm")]) == 7


def test_rerun_keeps_verified_files(photon_server, photon_site, minimal_iso, tmp_path):
    on_iso = iso_packages(minimal_iso)
    fetch_rpms("5.0", ["keepalived"], on_iso, tmp_path, mirror=photon_server.url + "/photon")
    before = len(photon_server.requests)
    fetch_rpms("5.0", ["keepalived"], on_iso, tmp_path, mirror=photon_server.url + "/photon")
    assert all(not request.target.endswith(".rpm") for request in photon_server.requests[before:])


def test_missing_packages_are_named_with_who_needs_them(photon_site):
    # The release repository without perl, and no ISO.
    online = [(RELEASE_REPO, package) for package in parse_repodata(
        lambda relpath: photon_site.files[f"{RELEASE_REPO}/{relpath}"]) if package.name != "perl"]
    with pytest.raises(InvalidInput) as caught:
        plan_rpms(["keepalived", "nginx"], [], online)
    assert str(caught.value) == (
        "2 requirement(s) are in neither the ISO nor the repositories: nginx (needed by profile package list); "
        "perl(Carp) (needed by net-snmp-5.9.4-2.ph5.x86_64); check the package names, --photon and --repo-url"
    )


def test_missing_package_through_fetch_rpms(photon_server, tmp_path):
    with pytest.raises(InvalidInput, match=r"^1 requirement\(s\) .*: nginx \(needed by profile package list\)"):
        fetch_rpms("5.0", ["keepalived", "nginx"], [], tmp_path, mirror=photon_server.url + "/photon")
    assert list(tmp_path.iterdir()) == []


def test_corrupted_rpm_is_detected_and_not_kept(photon_server, minimal_iso, tmp_path):
    rpm_path = next(path for path in photon_server.files if path.startswith(RELEASE_REPO) and "/libnl-" in path)
    photon_server.fault(rpm_path, "corrupt")
    with pytest.raises(InvalidArtifact, match=r"libnl-3.7.0-1.ph5.x86_64.rpm: sha256 mismatch"):
        fetch_rpms("5.0", ["keepalived"], iso_packages(minimal_iso), tmp_path, mirror=photon_server.url + "/photon")
    assert not list(tmp_path.glob("libnl*"))


def test_cut_rpm_download_resumes_on_rerun(photon_server, minimal_iso, tmp_path):
    rpm_path = next(path for path in photon_server.files if path.startswith(RELEASE_REPO) and "/perl-" in path)
    photon_server.fault(rpm_path, "cut")
    on_iso = iso_packages(minimal_iso)
    with pytest.raises(NetworkError, match="perl-5.36.0-1.ph5.x86_64.rpm interrupted"):
        fetch_rpms("5.0", ["net-snmp"], on_iso, tmp_path, mirror=photon_server.url + "/photon")
    assert not (tmp_path / "perl-5.36.0-1.ph5.x86_64.rpm").exists()
    photon_server.faults.clear()
    paths = fetch_rpms("5.0", ["net-snmp"], on_iso, tmp_path, mirror=photon_server.url + "/photon")
    assert name_version(paths) == [("net-snmp", "5.9.4"), ("perl", "5.36.0")]
    assert photon_server.hits(rpm_path)[-1].status == 206


def test_createrepo_c_metadata_is_read(photon_server):
    names = {package.name for package in repo_packages(photon_server.url + UPDATES_REPO)}
    assert names == {"openssl", "systemd", "bash", "haproxy"}


def test_unreachable_repository(closed_port, tmp_path):
    with pytest.raises(NetworkError, match=r"^cannot reach 127.0.0.1: Connection refused;"):
        fetch_rpms("5.0", ["haproxy"], [], tmp_path, repo_urls=[f"http://127.0.0.1:{closed_port}/repo"])


def test_cli_fetch_rpms_with_an_iso_and_the_profile_packages(photon_server, minimal_iso, tmp_path):
    out = tmp_path / "extra"
    result = CliRunner().invoke(cli, ["fetch-rpms", "--photon", "5.0", "--out", str(out), "--iso", str(minimal_iso),
                                      "--mirror", photon_server.url + "/photon"])
    assert result.exit_code == 0, result.output
    assert name_version(result.stdout.split()) == EXPECTED_DOWNLOAD


def test_cli_fetch_rpms_named_packages_from_repo_urls(photon_server, tmp_path):
    out = tmp_path / "extra"
    result = CliRunner().invoke(cli, ["fetch-rpms", "--photon", "5.0", "--out", str(out), "--quiet",
                                      "--repo-url", photon_server.url + RELEASE_REPO, "net-snmp"])
    assert result.exit_code == 0, result.output
    assert name_version(result.output.split()) == [("net-snmp", "5.9.4"), ("perl", "5.36.0")]


def test_cli_fetch_rpms_missing_package_exit_1(photon_server, tmp_path):
    result = CliRunner().invoke(cli, ["fetch-rpms", "--photon", "5.0", "--out", str(tmp_path), "--quiet",
                                      "--mirror", photon_server.url + "/photon", "nginx"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: 1 requirement(s) are in neither the ISO nor the repositories: nginx (needed by profile package "
        "list); check the package names, --photon and --repo-url"]
