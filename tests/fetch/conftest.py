"""A local HTTP server with injectable faults, a Photon-like repository on it, and a tiny ISO with repodata.

Nothing here touches the internet: servers listen on 127.0.0.1 (ephemeral
ports), every socket call is bounded by a timeout, and the proxy variables
of the calling environment are cleared so requests go where the test says.
"""

import hashlib
import io
import re
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from builder.repo.repodata import packages_from_rpms, write_repodata

from ..repo.rpmfixtures import build_rpm

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                   "NO_PROXY", "REQUEST_METHOD", "BUILD_APPLIANCE_MIRROR", "BUILD_APPLIANCE_CACHE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The caller's proxies or mirror must not redirect the tests' requests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Request:
    target: str  # as on the request line: a path, or an absolute URL when sent to a proxy
    range: str | None
    status: int


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        owner = self.server.owner
        path = urlsplit(self.path).path
        if path in owner.redirects:
            return self._reply(301, b"", self.headers.get("Range"), {"Location": owner.redirects[path]})
        faults = owner.faults.get(path, set())
        data = owner.files.get(path)
        wanted = self.headers.get("Range")
        if data is None or "404" in faults:
            return self._reply(404, b"not found\n", wanted)
        if "corrupt" in faults:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if match and "no-range" not in faults:
            start, status = int(match.group(1)), 206
            if start >= len(data):
                return self._reply(416, b"", wanted, {"Content-Range": f"bytes */{len(data)}"})
        body = data[start:]
        headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if status == 206 else {}
        cut = faults & {"cut", "cut-once"}
        if "cut-once" in cut:
            faults.discard("cut-once")
        self._reply(status, body, wanted, headers, send=len(body) // 2 if cut else None)

    def _reply(self, status, body, wanted, headers=(), send=None):
        self.server.owner.requests.append(Request(self.path, wanted, status))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in dict(headers).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body if send is None else body[:send])
        self.wfile.flush()
        if send is not None:  # a cut connection: the client sees EOF before Content-Length bytes
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a connection the test cut on purpose: no traceback on stderr


class FileServer:
    """Serves `files` (URL path -> bytes) on 127.0.0.1; `faults[path]` may hold
    "corrupt" (one byte flipped), "cut" / "cut-once" (half the body, then close),
    "no-range" (answer 200 to Range requests), "404"; `redirects[path]` answers 301.
    `requests` logs every request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, set[str]] = {}
        self.redirects: dict[str, str] = {}  # path -> Location of a 301
        self.requests: list[Request] = []
        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def fault(self, path: str, *kinds: str) -> None:
        self.faults.setdefault(path, set()).update(kinds)

    def hits(self, path: str) -> list[Request]:
        return [request for request in self.requests if urlsplit(request.target).path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    instance = FileServer()
    yield instance
    instance.close()


@pytest.fixture
def other_server():
    """A second server (another "host" for redirects)."""
    instance = FileServer()
    yield instance
    instance.close()


@pytest.fixture
def proxy():
    """A stand-in HTTP proxy: it answers absolute-form requests from its own files and logs them."""
    instance = FileServer()
    yield instance
    instance.close()


@pytest.fixture
def closed_port():
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- a Photon-like release

# name -> (version, release, arch, requires, provides, files). What the "minimal ISO" has:
ISO_RPMS = {
    "filesystem": ("1.1", "4.ph5", "x86_64", [], [], {}),
    "bash": ("5.2.15", "1.ph5", "x86_64", ["filesystem"], [], {"/bin/bash": "#!x\n", "/bin/sh": "#!x\n"}),
    "systemd": ("253.12", "1.ph5", "x86_64", ["/bin/sh"], [], {}),
    "openssl": ("3.0.8", "1.ph5", "x86_64", [], ["libssl.so.3()(64bit)"], {}),
    "iptables": ("1.8.9", "1.ph5", "x86_64", ["/bin/sh"], [], {}),
    "python3": ("3.11.0", "6.ph5", "x86_64", ["bash"], [], {"/usr/bin/python3": "#!x\n"}),
    "python3-jinja2": ("3.1.2", "1.ph5", "noarch", ["python3"], [], {}),
    "open-vm-tools": ("12.2.0", "1.ph5", "x86_64", ["/bin/sh", "systemd"], [], {}),
    "openssh-server": ("9.1p1", "3.ph5", "x86_64", ["openssl", "systemd"], [], {}),
    "sudo": ("1.9.13", "1.ph5", "x86_64", [], [], {}),
    "less": ("608", "1.ph5", "x86_64", [], [], {}),
    "initramfs": ("2.0", "11.ph5", "noarch", ["/bin/sh"], [], {}),
    "linux-esx": ("6.1.10", "10.ph5", "x86_64", ["filesystem"], [], {}),
    "minimal": ("0.1", "5.ph5", "noarch", ["bash", "iptables", "python3", "open-vm-tools", "sudo"], [], {}),
}
# What only the full ISO and the online repositories have (photon.md section 7.1):
RELEASE_ONLY_RPMS = {
    "haproxy": ("2.8.2", "1.ph5", "x86_64", ["openssl >= 3.0.9", "liblua-5.4.so()(64bit)", "systemd"], [], {}),
    "lua": ("5.4.6", "1.ph5", "x86_64", [], ["liblua-5.4.so()(64bit)"], {}),
    "keepalived": ("2.2.7", "3.ph5", "x86_64",
                   ["/bin/sh", "libnl-3.so.200()(64bit)", "net-snmp >= 5.9", "systemd", "iptables"], [],
                   {"/usr/sbin/keepalived": "#!x\n"}),
    "libnl": ("3.7.0", "1.ph5", "x86_64", [], ["libnl-3.so.200()(64bit)"], {}),
    "net-snmp": ("5.9.4", "2.ph5", "x86_64", ["perl(Carp)"], [], {}),
    "perl": ("5.36.0", "1.ph5", "x86_64", [], ["perl(Carp) = 1.52"], {}),
}
# Newer builds in the updates repository: only openssl (haproxy needs it) and haproxy may come from here.
UPDATES_RPMS = {
    "openssl": ("3.0.9", "2.ph5", "x86_64", [], ["libssl.so.3()(64bit)"], {}),
    "systemd": ("253.13", "1.ph5", "x86_64", ["/bin/sh"], [], {}),
    "bash": ("5.2.15", "2.ph5", "x86_64", ["filesystem"], [], {"/bin/bash": "#!x\n", "/bin/sh": "#!x\n"}),
    "haproxy": ("2.8.3", "1.ph5", "x86_64", ["openssl >= 3.0.9", "liblua-5.4.so()(64bit)", "systemd"], [], {}),
}
# The download fetch-rpms owes a minimal ISO for the default profile: (name, version).
EXPECTED_DOWNLOAD = sorted([("haproxy", "2.8.3"), ("keepalived", "2.2.7"), ("libnl", "3.7.0"), ("lua", "5.4.6"),
                            ("net-snmp", "5.9.4"), ("openssl", "3.0.9"), ("perl", "5.36.0")])
RELEASE_REPO = "/photon/5.0/photon_release_5.0_x86_64"
UPDATES_REPO = "/photon/5.0/photon_updates_5.0_x86_64"


def _build(workdir: Path, table: dict) -> dict[str, Path]:
    return {
        name: build_rpm(workdir, name, version, release, arch=arch, requires=requires, provides=provides, files=files)
        for name, (version, release, arch, requires, provides, files) in table.items()
    }


def _our_repo(rpms: dict[str, Path]) -> dict[str, bytes]:
    """A repository laid out like Photon's (<arch>/<file>.rpm), metadata by builder.repodata."""
    files, packages = {}, []
    for path in rpms.values():
        arch = path.name.rsplit(".", 2)[-2]
        files[f"{arch}/{path.name}"] = path.read_bytes()
        packages.extend(packages_from_rpms([path], f"{arch}/"))
    files.update(write_repodata(packages, timestamp=1704067200))
    return files


def _createrepo_repo(rpms: dict[str, Path], workdir: Path) -> dict[str, bytes]:
    """The same layout with metadata by createrepo_c (filelists, other and sqlite databases included)."""
    if shutil.which("createrepo_c") is None:
        return _our_repo(rpms)
    for path in rpms.values():
        arch = path.name.rsplit(".", 2)[-2]
        (workdir / arch).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, workdir / arch / path.name)
    subprocess.run(["createrepo_c", "--quiet", str(workdir)], check=True, timeout=60)
    return {str(path.relative_to(workdir)): path.read_bytes() for path in workdir.rglob("*") if path.is_file()}


@dataclass
class PhotonSite:
    files: dict[str, bytes]  # URL path -> bytes, for FileServer
    iso_repodata: dict[str, bytes]  # the minimal ISO's /RPMS/repodata files
    iso_rpms: dict[str, Path]
    iso_bytes: bytes = b""
    iso_sha512: str = ""
    extra: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def photon_site(tmp_path_factory) -> PhotonSite:
    """Release and updates repositories plus a fake installer ISO with its checksum file, as URL paths."""
    if shutil.which("rpmbuild") is None:
        pytest.skip("needs rpmbuild (installed by scripts/test)")
    root = tmp_path_factory.mktemp("photon-site")
    iso_rpms = _build(root / "iso", ISO_RPMS)
    release_rpms = {**iso_rpms, **_build(root / "release", RELEASE_ONLY_RPMS)}
    updates_rpms = _build(root / "updates", UPDATES_RPMS)
    files = {}
    for prefix, repo in ((RELEASE_REPO, _our_repo(release_rpms)),
                         (UPDATES_REPO, _createrepo_repo(updates_rpms, root / "updates-repo"))):
        files.update({f"{prefix}/{relpath}": data for relpath, data in repo.items()})
    iso_packages = [package for path in iso_rpms.values()
                    for package in packages_from_rpms([path], path.name.rsplit(".", 2)[-2] + "/")]
    iso_bytes = bytes(range(256)) * 12288 + b"PHOTON-TEST-ISO"  # ~3 MiB: several read chunks
    iso_sha512 = hashlib.sha512(iso_bytes).hexdigest()
    files["/photon/5.0/GA/iso/photon-5.0-test.x86_64.iso"] = iso_bytes
    files["/photon/5.0/GA/iso/photon-5.0-test.x86_64.iso.sha512"] = (
        f"{iso_sha512}  photon-5.0-test.x86_64.iso\n".encode())
    return PhotonSite(files, write_repodata(iso_packages, timestamp=1704067200), iso_rpms, iso_bytes, iso_sha512)


@pytest.fixture
def photon_server(server, photon_site) -> FileServer:
    server.files.update(photon_site.files)
    return server


def make_repo_iso(path: Path, repodata: dict[str, bytes]) -> Path:
    """A tiny ISO (pycdlib, Rock Ridge) whose /RPMS/repodata holds `repodata` ({'repodata/x': bytes})."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", vol_ident="PHOTON_TEST")
    iso.add_directory("/RPMS", rr_name="RPMS")
    iso.add_directory("/RPMS/REPODATA", rr_name="repodata")
    for number, (relpath, data) in enumerate(sorted(repodata.items())):
        name = relpath.split("/", 1)[1]
        iso.add_fp(io.BytesIO(data), len(data), f"/RPMS/REPODATA/F{number}.;1", rr_name=name)
    iso.write(str(path))
    iso.close()
    return path
