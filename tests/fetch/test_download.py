"""Streaming, verified downloads: corruption, cut connections, resume, restart, HTTP errors, proxies, timeouts."""

import hashlib
import socket
from pathlib import Path

import pytest

from builder.fetch.download import Checksum, NetworkError, download, fetch_bytes
from builder.errors import InvalidArtifact, InvalidInput

DATA = bytes(range(256)) * 8192  # 2 MiB: two read chunks
SHA256 = Checksum("sha256", hashlib.sha256(DATA).hexdigest())
PATH = "/files/photon.iso"


@pytest.fixture
def served(server):
    server.files[PATH] = DATA
    return server


def test_verified_download_lands_under_its_name_and_reports_progress(served, tmp_path):
    calls = []
    dest = download(served.url + PATH, tmp_path / "photon.iso", SHA256,
                    progress=lambda done, total: calls.append((done, total)))
    assert dest.read_bytes() == DATA and not (tmp_path / "photon.iso.partial").exists()
    assert calls[0] == (0, len(DATA)) and calls[-1] == (len(DATA), len(DATA))
    again = download(served.url + PATH, dest, SHA256)  # already there and right: no request
    assert again == dest and len(served.requests) == 1


@pytest.mark.parametrize("algorithm", ["sha1", "sha512"])
def test_other_digests(served, tmp_path, algorithm):
    checksum = Checksum.of(algorithm, hashlib.new(algorithm, DATA).hexdigest())
    assert download(served.url + PATH, tmp_path / "f", checksum).read_bytes() == DATA


def test_corrupted_download_is_reported_and_not_kept(served, tmp_path):
    served.fault(PATH, "corrupt")
    with pytest.raises(InvalidArtifact, match=r"sha256 mismatch .* discarded"):
        download(served.url + PATH, tmp_path / "photon.iso", SHA256)
    assert list(tmp_path.iterdir()) == []


def test_cut_connection_leaves_no_final_file_and_a_rerun_resumes(served, tmp_path):
    served.fault(PATH, "cut")
    dest = tmp_path / "photon.iso"
    expected = r"interrupted: connection closed after 1048576 of 2097152 bytes; run the command again"
    with pytest.raises(NetworkError, match=expected):
        download(served.url + PATH, dest, SHA256, retries=0)
    assert not dest.exists() and (tmp_path / "photon.iso.partial").stat().st_size == len(DATA) // 2
    served.faults.clear()
    assert download(served.url + PATH, dest, SHA256).read_bytes() == DATA
    last = served.requests[-1]
    assert last.range == "bytes=%d-" % (len(DATA) // 2) and last.status == 206
    assert not (tmp_path / "photon.iso.partial").exists()


def test_interruptions_are_retried_within_one_call(served, tmp_path):
    served.fault(PATH, "cut-once")
    assert download(served.url + PATH, tmp_path / "f", SHA256, retries=1).read_bytes() == DATA
    assert [request.status for request in served.requests] == [200, 206]


def test_server_without_range_support_restarts_cleanly(served, tmp_path):
    served.fault(PATH, "cut")
    with pytest.raises(NetworkError):
        download(served.url + PATH, tmp_path / "f", SHA256, retries=0)
    served.faults[PATH] = {"no-range"}
    assert download(served.url + PATH, tmp_path / "f", SHA256).read_bytes() == DATA
    assert served.requests[-1].range is not None and served.requests[-1].status == 200


def test_stale_partial_that_fails_verification_after_resume_is_restarted(served, tmp_path):
    (tmp_path / "f.partial").write_bytes(b"\x00" * 1000)  # bytes of some other upload
    assert download(served.url + PATH, tmp_path / "f", SHA256).read_bytes() == DATA
    assert [(request.range, request.status) for request in served.requests] == [("bytes=1000-", 206), (None, 200)]


def test_oversized_partial_gets_416_and_a_fresh_download(served, tmp_path):
    (tmp_path / "f.partial").write_bytes(b"\x00" * (len(DATA) + 10))
    assert download(served.url + PATH, tmp_path / "f", SHA256).read_bytes() == DATA
    assert [request.status for request in served.requests] == [416, 200]


def test_redirect_to_another_host_keeps_the_range(served, other_server, tmp_path):
    # Mirrors and the old packages.vmware.com host redirect; a resumed download must survive that.
    other_server.files[PATH] = DATA
    served.redirects["/old.iso"] = other_server.url + PATH
    (tmp_path / "f.partial").write_bytes(DATA[:1000])
    assert download(served.url + "/old.iso", tmp_path / "f", SHA256).read_bytes() == DATA
    assert [(request.range, request.status) for request in other_server.requests] == [("bytes=1000-", 206)]


def test_http_404_names_the_url(served, tmp_path):
    url = served.url + "/files/missing.iso"
    with pytest.raises(NetworkError) as caught:
        download(url, tmp_path / "missing.iso", SHA256)
    assert str(caught.value) == f"HTTP 404 Not Found for {url}; check the URL (--iso-url, --repo-url or --mirror)"
    assert list(tmp_path.iterdir()) == []


def test_unreachable_host_is_one_clear_line(closed_port, tmp_path):
    with pytest.raises(NetworkError) as caught:
        download(f"http://127.0.0.1:{closed_port}/x.iso", tmp_path / "x.iso", SHA256)
    assert str(caught.value) == (
        "cannot reach 127.0.0.1: Connection refused; check the network or HTTPS_PROXY, "
        "or use --iso/--rpm-dir with files you downloaded"
    )


def test_silent_server_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = "http://127.0.0.1:%d/x.iso" % silent.getsockname()[1]
        with pytest.raises(NetworkError, match=r"^cannot reach 127.0.0.1: timed out; check the network"):
            download(url, tmp_path / "x.iso", SHA256, timeout=0.3)


def test_http_proxy_from_the_environment_is_used(proxy, monkeypatch, tmp_path):
    # The host does not exist: only a proxy can answer for it.
    proxy.files["/photon/5.0/x.iso"] = DATA
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    url = "http://photon.example.invalid/photon/5.0/x.iso"
    assert download(url, tmp_path / "x.iso", SHA256).read_bytes() == DATA
    assert [request.target for request in proxy.requests] == [url]  # absolute-form: a proxy request


def test_no_proxy_bypasses_the_proxy(served, closed_port, monkeypatch, tmp_path):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert download(served.url + PATH, tmp_path / "f", SHA256).read_bytes() == DATA


def test_dead_proxy_is_reported(closed_port, monkeypatch, tmp_path):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(NetworkError, match=r"^cannot reach photon.example.invalid: Connection refused;"):
        download("http://photon.example.invalid/x.iso", tmp_path / "x.iso", SHA256)


def test_fetch_bytes_and_file_urls(served, tmp_path):
    assert fetch_bytes(served.url + PATH) == DATA
    (tmp_path / "repomd.xml").write_bytes(b"<repomd/>")
    assert fetch_bytes((tmp_path / "repomd.xml").as_uri()) == b"<repomd/>"
    with pytest.raises(NetworkError, match="cannot read file://"):
        fetch_bytes((tmp_path / "nope.xml").as_uri())


def test_checksum_parsing():
    assert Checksum.parse("SHA256:" + "A" * 64) == Checksum("sha256", "a" * 64)
    assert Checksum.of("sha", "0" * 40).algorithm == "sha1"  # repodata's name for SHA-1
    with pytest.raises(InvalidInput, match="64 hex digits"):
        Checksum.of("sha256", "abc")
    with pytest.raises(InvalidInput, match="unsupported checksum type 'md5'"):
        Checksum.of("md5", "0" * 32)


def test_full_disk_is_reported_as_such(served, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    (tmp_path / "f.partial").symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(InvalidInput, match=r"cannot write .*f.partial: No space left on device; free some space"):
        download(served.url + PATH, tmp_path / "f", SHA256)
    assert not (tmp_path / "f").exists()
