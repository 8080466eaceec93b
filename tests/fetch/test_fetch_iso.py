"""fetch_iso: pinned layout, verification, the cache (a second call makes no request), refusal of unconfirmed pins."""

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.fetch import sources
from builder.fetch.cache import Cache, cache_dir
from builder.cli import cli
from builder.fetch.download import Checksum
from builder.errors import InvalidArtifact, InvalidInput
from builder.fetch.inputs import fetch_iso

ISO_PATH = "/photon/5.0/GA/iso/photon-5.0-test.x86_64.iso"


@pytest.fixture
def confirmed_pin(monkeypatch, photon_site):
    """Pretend the test ISO is the confirmed 5.0 full pin, so the pinned layout is what gets used."""
    pin = sources.IsoPin("5.0", "full", "GA", "photon-5.0-test.x86_64.iso",
                         Checksum("sha512", photon_site.iso_sha512), confirmed=True, evidence="test")
    monkeypatch.setitem(sources.ISO_PINS, ("5.0", "full"), pin)
    return pin


def test_second_fetch_is_a_cache_hit(photon_server, confirmed_pin, tmp_path, photon_site):
    lines = []
    first = fetch_iso("5.0", "full", tmp_path / "cache", mirror=photon_server.url + "/photon", log=lines.append)
    assert first == tmp_path / "cache" / "iso" / "photon-5.0-test.x86_64.iso"
    assert first.read_bytes() == photon_site.iso_bytes
    assert [request.target for request in photon_server.requests] == [ISO_PATH]
    cache = Cache(tmp_path / "cache")
    second = fetch_iso("5.0", "full", cache, mirror=photon_server.url + "/photon", log=lines.append)
    assert second == first and len(photon_server.requests) == 1
    assert "in the cache" in lines[-1]


def test_cache_hit_needs_no_network_at_all(photon_server, confirmed_pin, tmp_path, closed_port):
    fetch_iso("5.0", "full", tmp_path, mirror=photon_server.url + "/photon")
    assert fetch_iso("5.0", "full", tmp_path, mirror=f"http://127.0.0.1:{closed_port}/photon").is_file()


def test_damaged_cached_iso_is_downloaded_again(photon_server, confirmed_pin, tmp_path, photon_site):
    path = fetch_iso("5.0", "full", tmp_path, mirror=photon_server.url + "/photon")
    with open(path, "r+b") as handle:
        handle.write(b"X")
    os.utime(path, ns=(1, 1))  # a changed stamp: the verified note no longer applies
    again = fetch_iso("5.0", "full", tmp_path, mirror=photon_server.url + "/photon")
    assert again.read_bytes() == photon_site.iso_bytes
    assert len(photon_server.requests) == 2


def test_corrupted_iso_download_is_refused_and_not_cached(photon_server, confirmed_pin, tmp_path):
    photon_server.fault(ISO_PATH, "corrupt")
    with pytest.raises(InvalidArtifact, match="sha512 mismatch"):
        fetch_iso("5.0", "full", tmp_path, mirror=photon_server.url + "/photon")
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_explicit_url_and_checksum(photon_server, tmp_path, photon_site):
    checksum_file = photon_server.files[ISO_PATH + ".sha512"].decode()
    checksum = Checksum.of("sha512", checksum_file.split()[0])
    path = fetch_iso("5.0", "minimal", tmp_path, iso_url=photon_server.url + ISO_PATH, checksum=checksum)
    assert path.name == "photon-5.0-test.x86_64.iso" and path.read_bytes() == photon_site.iso_bytes


def test_unconfirmed_pins_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        fetch_iso("5.0", "minimal", tmp_path)
    message = str(caught.value)
    assert "photon-minimal-5.0-dde71ec57.x86_64.iso" in message and "--iso-sha512" in message
    assert "--iso FILE" in message and "published by VMware" in message
    assert "https://packages.broadcom.com/photon/5.0/GA/iso/" in message and "\n" not in message
    with pytest.raises(InvalidInput, match="--iso-url needs --iso-sha256 or --iso-sha512"):
        fetch_iso("5.0", "full", tmp_path, iso_url="http://127.0.0.1:1/x.iso")


def test_pins_layout():
    pin = sources.iso_pin("5.0", "full")
    assert pin.url(sources.DEFAULT_BASE_URL) == (
        "https://packages.broadcom.com/photon/5.0/GA/iso/photon-5.0-dde71ec57.x86_64.iso")
    # VMware by Broadcom's own value (vmware/packer-examples-for-vsphere project.json)
    assert str(pin.checksum) == (
        "sha512:6a7a258399a258da742032987c043ab25503698d35edafaf1ae000f12127da1a161d8b84caa17fd8f23d129e81e1"
        "faa7ab087c20ab9229772a643f8f9475305f")
    four = sources.iso_pin("4.0", "full")
    assert (four.file_name, str(four.checksum)) == (
        "photon-4.0-c001795b8.iso", "sha1:eeb08738209bf77306268d63b834fd91f6cecdfb")
    confirmed = sorted(key for key, pin in sources.ISO_PINS.items() if pin.confirmed)
    assert confirmed == [("4.0", "full"), ("5.0", "full")]
    assert all("1fbcfa4b49d825e0695a731942c8f36ec737ea83" in sources.ISO_PINS[key].evidence for key in confirmed)
    assert sources.repo_urls("4.0", "file:///srv/photon/") == [
        "file:///srv/photon/4.0/photon_release_4.0_x86_64/", "file:///srv/photon/4.0/photon_updates_4.0_x86_64/"]
    with pytest.raises(InvalidInput, match=r"--photon 6.0: unknown Photon OS release \(known: 3.0, 4.0, 5.0\)"):
        sources.repo_urls("6.0")


def test_cache_directory_precedence(tmp_path):
    assert cache_dir(tmp_path / "flag", {"BUILD_APPLIANCE_CACHE": "/env"}) == tmp_path / "flag"
    assert cache_dir(None, {"BUILD_APPLIANCE_CACHE": "/env", "XDG_CACHE_HOME": "/xdg"}) == Path("/env")
    assert cache_dir(None, {"XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}) == Path("/xdg/photon-appliance-builder")
    # XDG Base Directory: a relative XDG_CACHE_HOME is invalid and ignored.
    home = cache_dir(None, {"XDG_CACHE_HOME": "rel", "HOME": "/home/u"})
    assert home == Path("/home/u/.cache/photon-appliance-builder")


def test_cli_fetch_iso_prints_the_cached_path(photon_server, tmp_path, photon_site):
    args = ["fetch-iso", "--photon", "5.0", "--iso-url", photon_server.url + ISO_PATH,
            "--iso-sha512", photon_site.iso_sha512, "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "iso" / "photon-5.0-test.x86_64.iso")
    again = CliRunner().invoke(cli, args + ["--quiet"])
    assert again.exit_code == 0 and again.output.strip() == result.stdout.strip() and len(photon_server.requests) == 1


def test_cli_offline_is_one_line_and_exit_1(closed_port, tmp_path):
    result = CliRunner().invoke(cli, ["fetch-iso", "--photon", "5.0", "--iso-url",
                                      f"http://127.0.0.1:{closed_port}/x.iso", "--iso-sha256", "0" * 64,
                                      "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "downloading http://127.0.0.1:%d/x.iso" % closed_port,
        "Error: cannot reach 127.0.0.1: Connection refused; check the network or HTTPS_PROXY, "
        "or use --iso/--rpm-dir with files you downloaded",
    ]
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_cli_refuses_unconfirmed_release_and_bad_flags(tmp_path):
    result = CliRunner().invoke(cli, ["fetch-iso", "--photon", "5.0", "--flavor", "minimal",
                                      "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1 and "--iso FILE" in result.output
    both = CliRunner().invoke(cli, ["fetch-iso", "--photon", "5.0",
                                    "--iso-sha256", "0" * 64, "--iso-sha512", "0" * 128])
    assert both.exit_code == 2
    short = CliRunner().invoke(cli, ["fetch-iso", "--photon", "5.0", "--iso-sha512", "abc"])
    assert short.exit_code == 1 and "a sha512 checksum is 128 hex digits" in short.output


PINNED_5 = "/photon/5.0/GA/iso/photon-5.0-dde71ec57.x86_64.iso"
PINNED_4 = "/photon/4.0/Rev2/iso/photon-4.0-c001795b8.iso"


def test_build_photon_5_needs_no_checksum_and_refuses_a_file_that_is_not_the_pinned_one(server, tmp_path):
    # The mirror serves something else under the official name: the pinned SHA-512 catches it.
    server.files[PINNED_5] = b"not the Photon 5.0 ISO" * 1000
    out, cache = tmp_path / "dist", tmp_path / "cache"
    result = CliRunner().invoke(cli, ["build", "--photon", "5.0", "--mirror", server.url + "/photon",
                                      "--cache-dir", str(cache), "--out", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "sha512 mismatch" in errors[0] and "Traceback" not in result.output
    assert [request.target for request in server.requests] == [PINNED_5]  # it did download, no checksum asked
    assert not any(path.is_file() for path in cache.rglob("*"))
    assert not out.exists() or not any(out.iterdir())


def test_photon_4_pin_is_the_vendors_sha1(server, tmp_path):
    server.files[PINNED_4] = b"not the Photon 4.0 ISO"
    with pytest.raises(InvalidArtifact, match="sha1 mismatch"):
        fetch_iso("4.0", "full", tmp_path, mirror=server.url + "/photon")
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_explicit_sha512_overrides_the_pin(server, tmp_path):
    data = b"a rebuilt 5.0 ISO" * 1000
    server.files[PINNED_5] = data
    result = CliRunner().invoke(cli, ["fetch-iso", "--photon", "5.0", "--mirror", server.url + "/photon",
                                      "--iso-sha512", hashlib.sha512(data).hexdigest(), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "iso" / "photon-5.0-dde71ec57.x86_64.iso"
    assert result.stdout.strip() == str(path) and path.read_bytes() == data
