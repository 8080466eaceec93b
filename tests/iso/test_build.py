"""`build-appliance build --format iso` end to end on Photon-like fixture ISOs, read back by independent tools."""

import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pycdlib
import pytest

from builder.iso import detect as isodetect
from builder.iso import kickstart
from builder.iso.image import IsoImage

from . import fixtures
from .conftest import require

CLI = [sys.executable, "-c", "from builder.cli import main; main()"]


def run_cli(*args, env=None):
    return subprocess.run(CLI + [str(arg) for arg in args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))


def build(iso, out, *extra):
    result = run_cli("build", "--iso", iso, "--out", out, "--format", "iso", *extra)
    assert result.returncode == 0, result.stderr
    return out / "photon-lb-1.0.0.iso"


def assert_clean_failure(result, out, *phrases, code=1):
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error_lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in error_lines[0], error_lines[0]
    leftovers = sorted(path.name for path in out.iterdir()) if out.exists() else []
    assert leftovers == [], leftovers


@pytest.fixture(scope="session")
def built(tmp_path_factory, full_iso):
    return build(full_iso, tmp_path_factory.mktemp("built"))


def test_detects_release_installer_and_boot_loaders(full_iso, minimal_iso):
    with IsoImage(full_iso) as image:
        found = isodetect.detect(image)
    assert (found.release, found.installer, found.bios_loader, found.uefi) == ("5.0", "2.7", "isolinux", True)
    with IsoImage(minimal_iso) as image:
        found = isodetect.detect(image)
    # no photon-os-installer RPM on this one: the version comes from the initrd
    assert (found.release, found.installer) == ("4.0", "2.0")


def test_photon_3_is_recognised_and_an_iso_without_rpms_refused(tmp_path):
    require("rpmbuild")
    from tests.repo.rpmfixtures import build_rpm

    rpm = build_rpm(tmp_path, "photon-release", version="3.0", release="1.ph3", arch="noarch")
    iso = fixtures.make_photon_iso(tmp_path / "p3", release="3.0", rpms=[rpm])
    with IsoImage(iso) as image:
        assert isodetect.detect(image).installer == "3.0"
    bare = fixtures.make_photon_iso(tmp_path / "bare", release="5.0")
    with IsoImage(bare) as image, pytest.raises(Exception, match="cannot tell the Photon release"):
        isodetect.detect(image)


def test_el_torito_entries_label_and_rock_ridge_survive(built, full_iso):
    require("xorriso")
    report = subprocess.run(["xorriso", "-indev", str(built), "-report_el_torito", "plain"],
                            capture_output=True, text=True, check=True).stdout
    assert "El Torito img path :   1  /isolinux/isolinux.bin" in report
    assert "El Torito img opts :   1  boot-info-table" in report
    assert "El Torito img path :   2  /boot/grub2/efiboot.img" in report
    assert " UEFI " in report and " BIOS " in report
    with IsoImage(built) as out, IsoImage(full_iso) as stock:
        assert out.volume_label == stock.volume_label == "PHOTON_20250101"
        files = out.files()
        stock_files = stock.files()
        # every stock file is still there, with its Rock Ridge mode; the repodata symlink too
        for path, entry in stock_files.items():
            assert path in files, path
            assert files[path].mode == entry.mode, path
        link = files["/RPMS/repodata/primary.xml.gz"]
        assert link.symlink_target == stock_files["/RPMS/repodata/primary.xml.gz"].symlink_target
        assert out.read("/boot/grub2/efiboot.img") == stock.read("/boot/grub2/efiboot.img")
    # pycdlib re-reads it on its own
    check = pycdlib.PyCdlib()
    check.open(str(built))
    check.close()


def test_kickstart_is_valid_json_with_known_keys_and_existing_paths(built):
    with IsoImage(built) as image:
        data = json.loads(image.read("/appliance/ks.json"))
        files = image.files()
        menu = image.read("/isolinux/menu.cfg").decode()
        grub = image.read("/boot/grub2/grub.cfg").decode()
    assert set(data) <= kickstart.known_keys("2.7")
    for entry in data["additional_files"]:
        for source in entry:
            assert source.startswith("/mnt/media/") and source[len("/mnt/media"):] in files
    assert "ks=cdrom:/appliance/ks.json" in menu and "ks=cdrom:/appliance/ks.json" in grub


def test_two_builds_are_byte_identical_and_build_info_tells_the_truth(built, full_iso, tmp_path):
    again = build(full_iso, tmp_path, "--checksum")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(built.read_bytes()).digest()
    info = json.loads((tmp_path / "build-info.json").read_text())
    assert info["base_iso"]["sha256"] == hashlib.sha256(full_iso.read_bytes()).hexdigest()
    assert info["base_iso"]["photon_release"] == "5.0"
    assert info["outputs"] == [{"file": again.name, "size": again.stat().st_size,
                                "sha256": hashlib.sha256(again.read_bytes()).hexdigest()}]
    assert info["rpms_added"] == []
    assert len(info["profile"]["sha256"]) == 64
    assert sorted(path.name for path in tmp_path.iterdir()) == ["SHA256SUMS", "build-info.json", again.name]
    checked = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout == f"{again.name}: OK\n", checked.stdout + checked.stderr

    # Without --checksum the ISO is not hashed, and the earlier SHA256SUMS goes: it named other bytes.
    again.write_bytes(b"stale")
    build(full_iso, tmp_path)
    info = json.loads((tmp_path / "build-info.json").read_text())
    assert info["outputs"] == [{"file": again.name, "size": again.stat().st_size}]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["build-info.json", again.name]
    assert again.read_bytes() == built.read_bytes()


def test_minimal_iso_names_what_it_lacks(minimal_iso, tmp_path):
    out = tmp_path / "out"
    result = run_cli("build", "--iso", minimal_iso, "--out", out, "--format", "iso")
    assert_clean_failure(result, out, "haproxy", "keepalived", "--rpm-dir")


def test_rpm_dir_completes_a_minimal_iso(minimal_iso, lb_rpm_dir, tmp_path):
    require("dnf")
    iso = build(minimal_iso, tmp_path, "--rpm-dir", lb_rpm_dir)
    info = json.loads((tmp_path / "build-info.json").read_text())
    assert sorted(item["file"].rsplit("/", 1)[1] for item in info["rpms_added"]) == sorted(
        path.name for path in lb_rpm_dir.iterdir())
    # a real resolver reads the regenerated repository off the ISO
    repo = tmp_path / "repo"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/RPMS", str(repo)],
                   check=True, capture_output=True)
    result = subprocess.run(
        ["dnf", "-q", "--disablerepo=*", f"--repofrompath=iso,file://{repo}", "--enablerepo=iso",
         "--setopt=reposdir=/dev/null", f"--setopt=cachedir={tmp_path / 'cache'}", "--nogpgcheck",
         f"--installroot={tmp_path / 'root'}", "--releasever=4.0", "repoquery", "--requires", "--resolve",
         "keepalived"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "net-snmp" in result.stdout and "libnl" in result.stdout


def test_incomplete_rpm_dir_names_the_missing_capability(minimal_iso, lb_rpm_dir, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for rpm in lb_rpm_dir.iterdir():
        if not rpm.name.startswith("perl-"):
            (partial / rpm.name).write_bytes(rpm.read_bytes())
    out = tmp_path / "out"
    result = run_cli("build", "--iso", minimal_iso, "--out", out, "--format", "iso", "--rpm-dir", partial)
    assert_clean_failure(result, out, "perl(Carp)", "net-snmp")


def test_not_photon_not_iso_missing_and_truncated_inputs_fail_cleanly(tmp_path, full_iso):
    require("xorriso")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "README.TXT").write_text("hello\n")
    other = tmp_path / "debian.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-R", "-o", str(other), str(tree)], check=True, capture_output=True)
    out = tmp_path / "out"
    assert_clean_failure(run_cli("build", "--iso", other, "--out", out), out, "not a Photon OS installer ISO")
    text = tmp_path / "notes.iso"
    text.write_text("not an image\n" * 100)
    assert_clean_failure(run_cli("build", "--iso", text, "--out", out), out, "not a readable ISO 9660 image")
    assert_clean_failure(run_cli("build", "--iso", tmp_path / "nope.iso", "--out", out), out, "no such file")
    # a flag problem: click's usage error, exit 2
    assert_clean_failure(run_cli("build", "--iso", tree, "--out", out), out, "is a directory", code=2)
    truncated = tmp_path / "truncated.iso"
    with open(full_iso, "rb") as source:
        truncated.write_bytes(source.read(2 * 1024 * 1024))
    result = run_cli("build", "--iso", truncated, "--out", out)
    assert_clean_failure(result, out, "is truncated", "download it again")


def test_full_disk_leaves_no_partial_output(full_iso, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    out = tmp_path / "small"
    out.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(out)], check=True)
    try:
        result = run_cli("build", "--iso", full_iso, "--out", out, "--format", "iso")
        assert_clean_failure(result, out, "no space left")
    finally:
        subprocess.run(["umount", str(out)], check=True)


@contextlib.contextmanager
def serving(directory):
    """An HTTP server on 127.0.0.1 for `directory`; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_missing_downloads_what_a_minimal_iso_lacks(minimal_iso, lb_rpm_dir, tmp_path):
    """build --fetch-missing against a repository served on 127.0.0.1 (no internet)."""
    repo = tmp_path / "repo"
    shutil.copytree(lb_rpm_dir, repo / "x86_64")
    subprocess.run(["createrepo_c", "--quiet", str(repo)], check=True, capture_output=True)
    with serving(repo) as url:
        out = tmp_path / "out"
        result = run_cli("build", "--iso", minimal_iso, "--out", out, "--format", "iso", "--fetch-missing",
                         "--repo-url", url + "/", "--cache-dir", tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    fetched = sorted(path.name for path in (tmp_path / "cache" / "rpms-4.0").iterdir())
    assert fetched == sorted(path.name for path in lb_rpm_dir.iterdir())
    info = json.loads((out / "build-info.json").read_text())
    assert len(info["rpms_added"]) == len(fetched)


def test_build_photon_downloads_verifies_caches_and_reuses_the_iso(full_iso, tmp_path):
    """build --photon 5.0 from a mirror on 127.0.0.1; the second build runs from the cache, offline."""
    from builder.fetch import sources

    pin = sources.iso_pin("5.0", "full")
    mirror = tmp_path / "mirror"
    served = mirror / "5.0" / pin.revision / "iso" / pin.file_name
    served.parent.mkdir(parents=True)
    shutil.copy(full_iso, served)
    digest = hashlib.sha256(full_iso.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with serving(mirror) as url:
        bad = run_cli("build", "--photon", "5.0", "--mirror", url, "--iso-sha256", "0" * 64,
                      "--cache-dir", cache, "--out", tmp_path / "bad", "--format", "iso")
        assert not (cache / "iso" / pin.file_name).exists()  # a download that failed its check is not kept
        first = run_cli("build", "--photon", "5.0", "--mirror", url, "--iso-sha256", digest,
                        "--cache-dir", cache, "--out", tmp_path / "one", "--format", "iso")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "sha256" in bad.stderr.lower()
    assert first.returncode == 0, first.stderr
    cached = cache / "iso" / pin.file_name
    assert cached.read_bytes() == full_iso.read_bytes()
    # the mirror is gone: the second build can only use the cached, verified ISO
    second = run_cli("build", "--photon", "5.0", "--mirror", "http://127.0.0.1:9/", "--iso-sha256", digest,
                     "--cache-dir", cache, "--out", tmp_path / "two", "--format", "iso")
    assert second.returncode == 0, second.stderr
    for out in ("one", "two"):
        info = json.loads((tmp_path / out / "build-info.json").read_text())
        assert info["base_iso"]["sha256"] == digest and info["base_iso"]["photon_release"] == "5.0"
    assert (tmp_path / "one" / "photon-lb-1.0.0.iso").read_bytes() == (tmp_path / "two" / "photon-lb-1.0.0.iso").read_bytes()


def test_a_known_iso_digest_is_not_computed_again_but_a_changed_file_is_hashed(tmp_path, monkeypatch):
    """The base ISO's SHA-256 comes from the download cache's note or from an earlier build while the file is unchanged."""
    from types import SimpleNamespace

    from builder import stages
    from builder.fetch.cache import Cache
    from builder.fetch.download import Checksum

    hashed = []
    real_file_digest = stages.file_digest
    monkeypatch.setattr(stages, "file_digest", lambda path: hashed.append(path) or real_file_digest(path))

    def base_digest(iso, cache):
        ctx = SimpleNamespace(config=SimpleNamespace(iso_path=iso, fetch=stages.FetchOptions(cache_dir=cache)))
        thread = stages.start_base_hash(ctx)
        thread.join(10)
        return thread.result["sha256"]

    # downloaded: the cache's verification note already names the digest
    cached = tmp_path / "cache" / "iso" / "photon.iso"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x" * 4096)
    digest = hashlib.sha256(cached.read_bytes()).hexdigest()
    Cache(tmp_path / "cache").mark_verified(cached, Checksum("sha256", digest))
    assert base_digest(cached, tmp_path / "cache") == digest and hashed == []

    # given with --iso: hashed once, remembered in the cache (nothing written beside it), then reused
    own = tmp_path / "mine" / "photon.iso"
    own.parent.mkdir()
    own.write_bytes(b"y" * 8192)
    expected = hashlib.sha256(own.read_bytes()).hexdigest()
    assert base_digest(own, tmp_path / "cache") == expected and hashed == [own]
    assert base_digest(own, tmp_path / "cache") == expected and hashed == [own]
    assert sorted(path.name for path in own.parent.iterdir()) == ["photon.iso"]

    # the same size and modification time but other bytes: the change time gives it away
    stat = own.stat()
    with open(own, "r+b") as fp:
        fp.write(b"z")
    os.utime(own, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = hashlib.sha256(own.read_bytes()).hexdigest()
    assert base_digest(own, tmp_path / "cache") == changed and hashed == [own, own]
    cached.write_bytes(b"w" * 4097)
    assert base_digest(cached, tmp_path / "cache") == hashlib.sha256(b"w" * 4097).hexdigest()
    assert hashed == [own, own, cached]
