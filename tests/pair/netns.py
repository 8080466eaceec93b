"""A load-balancer pair in network namespaces: the topology the pair tests and the benchmark share.

Layout (one L2 segment, 192.0.2.0/24, on a bridge inside its own namespace so
nothing is added to the host's network):

    <p>-sw    bridge br0, one port per namespace below
    <p>-lb1   eth0: the MASTER node's address (from its rendered network file)
    <p>-lb2   eth0: the BACKUP node's address
    <p>-cli   eth0: 192.0.2.100-.139, the client (many sources for persistence tests)
    <p>-srv   eth0: 192.0.2.1, the nodes' gateway; the backend addresses
              (198.51.100.0/24) sit on its loopback, so the nodes reach the
              backends through their default route and no forwarding is needed.
    <p>-rtr   eth0: 192.0.2.254, a second router (forwarding on); eth1:
              203.0.113.129/25, towards
    <p>-int   eth0: 203.0.113.130/25, a host reachable only through a static
              route via 192.0.2.254 (node.routes).
The client namespace also holds 192.0.2.50, the syslog server (SyslogListener).

Each LB node also gets its own PID, UTS and mount namespaces (`ip netns exec` +
`unshare`): a private /run, /var/lib/haproxy (HAProxy's chroot and stats
socket) and an overlay on /usr/libexec carrying the repository's
check-haproxy at the path keepalived.conf names. The rendered files are used
as they are; only the environment around them is adapted.

Everything that waits has a deadline; `Topology.destroy` removes every
namespace it created, killing each node's PID namespace (and so every
process in it) first.
"""

import base64
import contextlib
import ctypes
import ipaddress
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = REPO / "overlays" / "usr" / "libexec" / "appliance-agent" / "check-haproxy"
NOTIFY_SCRIPT = REPO / "overlays" / "usr" / "libexec" / "appliance-agent" / "vrrp-notify"
BACKENDS_SCRIPT = Path(__file__).resolve().parent / "backends.py"

GATEWAY = "192.0.2.1"
# A second router on the segment and the internal network behind it (node.routes).
ROUTER = "192.0.2.254"
INTERNAL_NETWORK = "203.0.113.128/25"
INTERNAL_ROUTER = "203.0.113.129"
INTERNAL_HOST = "203.0.113.130"
# The site's syslog server (log.syslog_server), an address of the client namespace.
SYSLOG_SERVER = "192.0.2.50"
CLIENT_IP = "192.0.2.100"
CLIENT_SOURCES = ["192.0.2.%d" % host for host in range(100, 140)]
# name -> (address, ports): the sample environment's backends (env-template).
BACKENDS = {
    "horizon1": ("198.51.100.11", (443,)),
    "horizon2": ("198.51.100.12", (443,)),
    "appvolumes1": ("198.51.100.21", (443,)),
    "appvolumes2": ("198.51.100.22", (443,)),
    "uag1": ("198.51.100.31", (443, 8443)),
    "uag2": ("198.51.100.32", (443, 8443)),
}
TOOLS = ("ip", "unshare", "nsenter", "iptables-restore", "haproxy", "keepalived", "openssl", "killall", "sysctl")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def read_to_end(sock):
    """Every byte until the peer closes (the servers here answer HTTP/1.0 and close)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


class TopologyError(Exception):
    """The topology could not be built or a daemon did not come up in time."""


def run(args, timeout=30, check=True, stdin=None):
    """Run a command, capture its output, raise TopologyError on failure."""
    try:
        result = subprocess.run(
            [os.fspath(arg) for arg in args],
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TopologyError("%s: no answer within %ss" % (" ".join(map(str, args)), timeout)) from exc
    if check and result.returncode != 0:
        raise TopologyError(
            "%s: exit %d: %s" % (" ".join(map(str, args)), result.returncode, result.stderr.decode(errors="replace").strip())
        )
    return result


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Poll predicate() until it returns something truthy; TopologyError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TopologyError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def netns_unavailable_reason():
    """Why namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, iptables, keepalived)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = "lbp-probe-%d" % os.getpid()
    result = subprocess.run(["ip", "netns", "add", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        return "`ip netns add` does not work here: %s" % result.stderr.decode(errors="replace").strip()
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def missing_tools():
    """Tools the topology needs that are not installed."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "setns: %s" % os.strerror(errno))


@contextlib.contextmanager
def in_netns(name):
    """Run the block with this thread in network namespace `name`.

    Sockets created inside stay in that namespace after the block ends, so
    the tests talk to the topology in-process, without a subprocess each.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open("/run/netns/%s" % name, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
            return [int(part) for part in handle.read().split()]
    except OSError:
        return []


class Client:
    """The client namespace: TLS/HTTP requests and raw probes from chosen source addresses."""

    def __init__(self, netns):
        self.netns = netns
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE

    def _socket(self, source, timeout, family_type=socket.SOCK_STREAM, proto=0):
        with in_netns(self.netns):
            sock = socket.socket(socket.AF_INET, family_type, proto)
        sock.settimeout(timeout)
        if source:
            sock.bind((source, 0))
        return sock

    def https_get(self, address, port, source=CLIENT_IP, timeout=2.0, path="/"):
        """Body of GET https://address:port/path (the backend's "<name> <port>"), or None on any failure."""
        sock = self._socket(source, timeout)
        try:
            sock.connect((address, port))
            with self.tls.wrap_socket(sock, server_hostname=None) as tls:
                tls.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, address)).encode("ascii"))
                data = read_to_end(tls)
        except (OSError, ssl.SSLError):
            return None
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
            return None
        return body.decode("ascii", "replace").strip()

    def backend(self, address, port, source=CLIENT_IP, timeout=2.0):
        """Name of the backend server a request reached ("horizon1"), or None."""
        body = self.https_get(address, port, source=source, timeout=timeout)
        return body.split()[0] if body else None

    def http_head(self, address, port, path="/", source=CLIENT_IP, timeout=2.0):
        """(status line, headers dict) of a plain-HTTP request, or None."""
        sock = self._socket(source, timeout)
        try:
            sock.connect((address, port))
            sock.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, address)).encode("ascii"))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
        finally:
            sock.close()
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        return lines[0], {key.strip().lower(): value.strip() for key, value in headers.items()}

    def tls_get(self, address, port, path, ca_pem, auth=None, source=CLIENT_IP, timeout=2.0):
        """(status line, body, TLS version, server certificate DER) of a GET over TLS.

        The server's certificate is verified against ca_pem and must name
        `address` (an IP entry in its subjectAltName), as a browser that
        trusts it would check. auth is (user, password) for basic auth.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=ca_pem)
        headers = "Host: %s\r\n" % address
        if auth:
            headers += "Authorization: Basic %s\r\n" % base64.b64encode(("%s:%s" % auth).encode("utf-8")).decode("ascii")
        sock = self._socket(source, timeout)
        try:
            sock.connect((address, port))
            with context.wrap_socket(sock, server_hostname=address) as tls:
                tls.sendall(("GET %s HTTP/1.0\r\n%s\r\n" % (path, headers)).encode("ascii"))
                data = read_to_end(tls)
                version, certificate = tls.version(), tls.getpeercert(binary_form=True)
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if re.search(br"^transfer-encoding:\s*chunked", head, re.I | re.M):
            body = _dechunk(body)
        return head.split(b"\r\n", 1)[0].decode("latin-1"), body.decode("utf-8", "replace"), version, certificate

    def plain_exchange(self, address, port, request, source=CLIENT_IP, timeout=2.0):
        """Bytes answered to `request` sent in clear, until the server closes (or the timeout)."""
        sock = self._socket(source, timeout)
        data = b""
        try:
            sock.connect((address, port))
            sock.sendall(request)
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        finally:
            sock.close()
        return data

    def tcp_connect(self, address, port, source=CLIENT_IP, timeout=1.0):
        """'open', 'refused' or 'timeout' (dropped) for a TCP connection attempt."""
        sock = self._socket(source, timeout)
        try:
            sock.connect((address, port))
            return "open"
        except ConnectionRefusedError:
            return "refused"
        except (socket.timeout, OSError):
            return "timeout"
        finally:
            sock.close()

    def send_raw(self, address, protocol, payload, count=1):
        """Send `count` raw IP datagrams of `protocol` (e.g. 112, VRRP) to address."""
        sock = self._socket(None, 1.0, socket.SOCK_RAW, protocol)
        try:
            for _ in range(count):
                sock.sendto(payload, (address, 0))
        finally:
            sock.close()


def _dechunk(body):
    """An HTTP/1.1 chunked body, joined (HAProxy's stats page answers chunked)."""
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2 :]
    return out


class Backends:
    """The six stand-in servers, one Python process in the servers' namespace."""

    def __init__(self, netns, workdir):
        self.netns = netns
        self.workdir = Path(workdir)
        self.state = self.workdir / "state"
        self.process = None
        self.log = None

    def start(self):
        self.state.mkdir(parents=True, exist_ok=True)
        cert, key = self.workdir / "cert.pem", self.workdir / "key.pem"
        run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=backend.pair.test"],
        )  # fmt: skip
        ready = self.workdir / "ready"
        specs = ["%s=%s:%s" % (name, address, ",".join(map(str, ports))) for name, (address, ports) in BACKENDS.items()]
        self.log = open(self.workdir / "backends.log", "wb")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, os.fspath(BACKENDS_SCRIPT),
             "--cert", os.fspath(cert), "--key", os.fspath(key), "--state", os.fspath(self.state),
             "--ready", os.fspath(ready)] + specs,
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(lambda: ready.exists() or self.process.poll() is not None, 15, what="the backend servers")
        if self.process.poll() is not None:
            raise TopologyError("backend servers exited: %s" % (self.workdir / "backends.log").read_text())

    def set_down(self, name, down=True):
        """Make `name` answer 503 (down=True) or 200 on /favicon.ico."""
        path = self.state / (name + ".down")
        if down:
            path.touch()
        elif path.exists():
            path.unlink()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.log:
            self.log.close()


# The node's PID 1: mounts its private directories, then only reaps orphans.
NODE_SETUP = r"""
set -e
hostname "$1"
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/haproxy /run/keepalived /run/appliance-vrrp
chown keepalived_script: /run/appliance-vrrp
mount --bind "$7" /etc/haproxy
mount -t tmpfs -o mode=0755 tmpfs /var/lib/haproxy
mount -t tmpfs -o mode=0755 tmpfs "$2"
mkdir "$2/upper" "$2/work"
mount -t overlay overlay -o "lowerdir=/usr/libexec,upperdir=$2/upper,workdir=$2/work" /usr/libexec
mkdir -p /usr/libexec/appliance-agent
: > /usr/libexec/appliance-agent/check-haproxy
mount --bind -o ro "$3" /usr/libexec/appliance-agent/check-haproxy
: > /usr/libexec/appliance-agent/vrrp-notify
mount --bind -o ro "$6" /usr/libexec/appliance-agent/vrrp-notify
echo "$$" > "$4"
exec "$5" -c '
import os, signal, time
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)
'
"""


class LbNode:
    """One load-balancer node: its rendered root, its namespaces, its daemons."""

    def __init__(self, topology, netns, port, root, workdir):
        self.topology = topology
        self.netns = netns
        self.port = port  # its port on the bridge, in the switch namespace
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.hostname = (self.root / "etc" / "hostname").read_text().strip()
        self.address, self.prefix, self.gateway, self.routes = self._network()
        self.haproxy_cfg = self.root / "etc" / "haproxy" / "haproxy.cfg"
        self.keepalived_conf = self.root / "etc" / "keepalived" / "keepalived.conf"
        self.stats_socket = self._stats_socket()
        self.init = None  # the unshare process (host side)
        self.init_pid = None  # PID 1 of the node's PID namespace, as the host sees it
        self.haproxy = None
        self.keepalived = None
        self._logs = []

    def __repr__(self):
        return "<LbNode %s %s>" % (self.hostname, self.address)

    def _network(self):
        files = sorted((self.root / "etc" / "systemd" / "network").glob("10-*.network"))
        if not files:
            raise TopologyError("no etc/systemd/network/10-*.network under %s" % self.root)
        text = files[0].read_text()
        address = re.search(r"^Address=(\S+)", text, re.M).group(1)
        gateway = re.search(r"^Gateway=(\S+)", text, re.M)
        interface = ipaddress.ip_interface(address)
        # networkd's [Route] sections: Destination= via Gateway= on this link.
        routes = re.findall(r"^\[Route\]\s*\nDestination=(\S+)\s*\nGateway=(\S+)", text, re.M)
        return str(interface.ip), interface.network.prefixlen, gateway.group(1) if gateway else None, routes

    def _stats_socket(self):
        match = re.search(r"^\s*stats socket (\S+)", self.haproxy_cfg.read_text(), re.M)
        return match.group(1) if match else None

    # --- boot -----------------------------------------------------------------

    def boot(self):
        """Network, sysctl and firewall as the appliance applies them; then HAProxy and keepalived."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch = self.workdir / "scratch"
        scratch.mkdir(exist_ok=True)
        pidfile = self.workdir / "init.pid"
        self.init = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--pid", "--fork", "--uts", "--mount", "--mount-proc",
             "--propagation", "private", "sh", "-c", NODE_SETUP, "node-init", self.hostname, os.fspath(scratch),
             os.fspath(CHECK_SCRIPT), os.fspath(pidfile), sys.executable, os.fspath(NOTIFY_SCRIPT),
             os.fspath(self.root / "etc" / "haproxy")],
            stdout=self._log("init.log"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(lambda: pidfile.exists() or self.init.poll() is not None, 15, what="%s's namespaces" % self.hostname)
        if self.init.poll() is not None:
            raise TopologyError("%s: namespace setup failed: %s" % (self.hostname, (self.workdir / "init.log").read_text()))
        self.init_pid = wait_for(lambda: (_children(self.init.pid) or [None])[0], 5, what="the node's PID 1")
        ns = ["ip", "-n", self.netns]
        run(ns + ["addr", "add", "%s/%d" % (self.address, self.prefix), "dev", "eth0"])
        if self.gateway:
            run(ns + ["route", "add", "default", "via", self.gateway])
        for destination, gateway in self.routes:
            run(ns + ["route", "add", destination, "via", gateway, "dev", "eth0"])
        sysctl = self.root / "etc" / "sysctl.d" / "55-keepalived.conf"
        run(["ip", "netns", "exec", self.netns, "sysctl", "-q", "-p", sysctl])
        ip4save = self.root / "etc" / "systemd" / "scripts" / "ip4save"
        run(["ip", "netns", "exec", self.netns, "iptables-restore"], stdin=ip4save.read_bytes())
        self.start_haproxy()
        self.start_keepalived()

    def _log(self, name):
        handle = open(self.workdir / name, "ab")
        self._logs.append(handle)
        return handle

    def enter(self, args):
        """argv running `args` inside all of this node's namespaces."""
        return ["nsenter", "-t", str(self.init_pid), "-n", "-m", "-u", "-p", "--"] + [os.fspath(a) for a in args]

    def start_haproxy(self, timeout=15):
        """HAProxy as Photon's unit runs it (-Ws, foreground master-worker); up when its stats socket answers."""
        self.haproxy = subprocess.Popen(
            self.enter(["haproxy", "-Ws", "-f", self.haproxy_cfg] + self._maxconn_cap()),
            stdout=self._log("haproxy.log"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        if self.stats_socket:
            wait_for(lambda: self.haproxy.poll() is not None or self._api_ok(), timeout, what="%s's HAProxy" % self.hostname)
        if self.haproxy.poll() is not None:
            raise TopologyError("%s: HAProxy exited: %s" % (self.hostname, (self.workdir / "haproxy.log").read_text()[-2000:]))

    def _maxconn_cap(self):
        """`-n N` when this machine's hard file limit is below what the config's maxconn needs.

        HAProxy wants about 2 descriptors per connection and refuses to start
        when it cannot raise its limit that far. On Photon systemd grants
        services a hard limit of 524288; a container may allow far less (and
        not let even root raise it), so there the connection limit is capped
        on the command line instead: the file stays as rendered.
        """
        match = re.search(r"^\s*maxconn\s+(\d+)", self.haproxy_cfg.read_text(), re.M)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if not match or hard == resource.RLIM_INFINITY or 2 * int(match.group(1)) + 100 <= hard:
            return []
        return ["-n", str((hard - 200) // 2)]

    def _api_ok(self):
        try:
            return "Name" in self.api("show info")
        except OSError:
            return False

    def start_keepalived(self):
        """keepalived in the foreground, logging to the console (captured in keepalived.log)."""
        self.keepalived = subprocess.Popen(
            self.enter(["keepalived", "--dont-fork", "--log-console", "--log-detail", "-f", self.keepalived_conf]),
            stdout=self._log("keepalived.log"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(0.2)
        if self.keepalived.poll() is not None:
            raise TopologyError("%s: keepalived exited: %s" % (self.hostname, (self.workdir / "keepalived.log").read_text()[-2000:]))

    # --- faults -----------------------------------------------------------------

    def kill_haproxy(self):
        """SIGKILL every HAProxy process of this node (master and workers), as a crash would."""
        run(self.enter(["killall", "-q", "-9", "haproxy"]), check=False)
        if self.haproxy is not None:
            self.haproxy.wait(10)

    def stop_keepalived(self, timeout=10):
        """SIGTERM to keepalived's main process, as `systemctl stop keepalived` sends."""
        if self.keepalived is None or self.keepalived.poll() is not None:
            return
        main = wait_for(lambda: (_children(self.keepalived.pid) or [None])[0], 5, what="keepalived's pid")
        os.kill(main, signal.SIGTERM)
        self.keepalived.wait(timeout)

    def cut_link(self):
        """Pull the cable: the node's bridge port goes down, so its eth0 loses carrier."""
        run(["ip", "-n", self.topology.switch, "link", "set", self.port, "down"])

    def restore_link(self):
        run(["ip", "-n", self.topology.switch, "link", "set", self.port, "up"])

    # --- state ------------------------------------------------------------------

    def addresses(self):
        """IPv4 addresses on eth0 other than the node's own."""
        result = run(["ip", "-n", self.netns, "-j", "-4", "addr", "show", "dev", "eth0"], timeout=10, check=False)
        if result.returncode != 0:
            return set()
        found = set()
        for link in json.loads(result.stdout or b"[]"):
            for info in link.get("addr_info", []):
                if info.get("local") != self.address:
                    found.add(info["local"])
        return found

    def api(self, command, timeout=5):
        """One HAProxy runtime-API command on the node's stats socket (reached through its mount namespace)."""
        path = "/proc/%d/root%s" % (self.init_pid, self.stats_socket)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(command.encode("ascii") + b"\n")
            data = read_to_end(sock)
        return data.decode("utf-8", "replace")

    def server_states(self, backend):
        """{server name: operational state} from `show servers state` (0 down, 2 up)."""
        states = {}
        for line in self.api("show servers state %s" % backend).splitlines()[2:]:
            fields = line.split()
            if len(fields) > 5:
                states[fields[3]] = int(fields[5])
        return states

    def server_ids(self, backend):
        """{server name: numeric id} from `show servers state` (what `set table ... data.server_id` takes)."""
        ids = {}
        for line in self.api("show servers state %s" % backend).splitlines()[2:]:
            fields = line.split()
            if len(fields) > 5:
                ids[fields[3]] = int(fields[2])
        return ids

    def healthy(self):
        """HAProxy's monitor URI answers 200 inside the node (what check-haproxy tests)."""
        result = run(self.enter(["/usr/libexec/appliance-agent/check-haproxy", "8405"]), timeout=10, check=False)
        return result.returncode == 0

    def vrrp_states(self):
        """Every 'Entering <STATE> STATE' keepalived logged, in order."""
        text = (self.workdir / "keepalived.log").read_text(errors="replace")
        return re.findall(r"Entering (\w+) STATE", text)

    def vrrp_state_file(self):
        """What keepalived's notify hook recorded in the node's /run/appliance-vrrp/state, or None."""
        try:
            return Path("/proc/%d/root/run/appliance-vrrp/state" % self.init_pid).read_text()
        except OSError:
            return None

    def iptables_input(self):
        """`iptables -nvxL INPUT` in the node's namespace."""
        return run(["ip", "netns", "exec", self.netns, "iptables", "-nvxL", "INPUT"]).stdout.decode()

    def shutdown(self):
        """Kill the node's PID namespace: every process in it dies with its PID 1."""
        if self.init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
        for process in (self.haproxy, self.keepalived, self.init):
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(10)
        for handle in self._logs:
            handle.close()
        self._logs = []


class Topology:
    """The namespaces, the bridge, the client and the backends; `destroy()` undoes all of it."""

    def __init__(self, workdir, prefix=None):
        self.workdir = Path(workdir)
        self.prefix = prefix or "lbp%d" % (os.getpid() % 100000)
        self.switch = self.prefix + "-sw"
        self.client_ns = self.prefix + "-cli"
        self.server_ns = self.prefix + "-srv"
        self.created = []
        self.nodes = []
        self.backends = None
        self.client = Client(self.client_ns)

    def _add_netns(self, name):
        run(["ip", "netns", "add", name])
        self.created.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _plug(self, netns, port):
        """A veth from the bridge port `port` (switch side) to eth0 in `netns`."""
        run(["ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns])
        run(["ip", "-n", self.switch, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", netns, "link", "set", "eth0", "up"])

    def build(self):
        """Switch, client and servers (the LB nodes come with add_node)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._add_netns(self.switch)
        run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge", "forward_delay", "0"])
        run(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        self._add_netns(self.client_ns)
        self._plug(self.client_ns, "cli")
        for source in CLIENT_SOURCES:
            run(["ip", "-n", self.client_ns, "addr", "add", source + "/24", "dev", "eth0"])
        self._add_netns(self.server_ns)
        self._plug(self.server_ns, "srv")
        run(["ip", "-n", self.server_ns, "addr", "add", GATEWAY + "/24", "dev", "eth0"])
        for address, _ in BACKENDS.values():
            run(["ip", "-n", self.server_ns, "addr", "add", address + "/32", "dev", "lo"])
        run(["ip", "-n", self.client_ns, "addr", "add", SYSLOG_SERVER + "/24", "dev", "eth0"])
        self._build_router()
        self.backends = Backends(self.server_ns, self.workdir / "backends")
        self.backends.start()

    def _build_router(self):
        """The second router and the internal host behind it."""
        self.router_ns = self.prefix + "-rtr"
        self.internal_ns = self.prefix + "-int"
        self._add_netns(self.router_ns)
        self._plug(self.router_ns, "rtr")
        run(["ip", "-n", self.router_ns, "addr", "add", ROUTER + "/24", "dev", "eth0"])
        self._add_netns(self.internal_ns)
        run(["ip", "-n", self.router_ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", self.internal_ns])
        run(["ip", "-n", self.router_ns, "addr", "add", INTERNAL_ROUTER + "/25", "dev", "eth1"])
        run(["ip", "-n", self.router_ns, "link", "set", "eth1", "up"])
        run(["ip", "-n", self.internal_ns, "addr", "add", INTERNAL_HOST + "/25", "dev", "eth0"])
        run(["ip", "-n", self.internal_ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", self.internal_ns, "route", "add", "default", "via", INTERNAL_ROUTER])
        run(["ip", "netns", "exec", self.router_ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])

    def add_node(self, label, root):
        """Namespace, cable and daemons for one LB node whose files are under root."""
        netns = "%s-%s" % (self.prefix, label)
        self._add_netns(netns)
        self._plug(netns, label)
        node = LbNode(self, netns, label, root, self.workdir / label)
        self.nodes.append(node)
        node.boot()
        return node

    def remove_nodes(self):
        """Stop and delete every LB node (the switch, client and backends stay)."""
        for node in self.nodes:
            node.shutdown()
            run(["ip", "netns", "del", node.netns], check=False)
            if node.netns in self.created:
                self.created.remove(node.netns)
        self.nodes = []

    def destroy(self):
        """Kill everything started and delete every namespace created; never raises."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.shutdown()
        if self.backends is not None:
            with contextlib.suppress(Exception):
                self.backends.stop()
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        self.created = []
        self.nodes = []


class SyslogListener:
    """A UDP syslog server on 192.0.2.50:514 in the client namespace; keeps every datagram."""

    def __init__(self, netns, address=SYSLOG_SERVER, port=514):
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.messages = []  # (source address, text)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((peer[0], data.decode("utf-8", "replace")))

    def matching(self, pattern, source=None):
        return [text for peer, text in list(self.messages) if (source is None or peer == source) and re.search(pattern, text)]

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class Pair:
    """Two nodes and the VIPs they share."""

    def __init__(self, first, second, vips):
        self.nodes = (first, second)
        self.vips = set(vips)

    def holder(self):
        """The node holding every VIP while the other holds none, else None."""
        held = [node.addresses() for node in self.nodes]
        for node, mine, theirs in ((self.nodes[0], held[0], held[1]), (self.nodes[1], held[1], held[0])):
            if mine >= self.vips and not (theirs & self.vips):
                return node
        return None

    def other(self, node):
        return self.nodes[1] if node is self.nodes[0] else self.nodes[0]

    def wait_converged(self, timeout=20, stable=1.5):
        """The holder, once one node has held all VIPs (and the other none) for `stable` seconds."""
        deadline = time.monotonic() + timeout
        candidate, since = None, None
        while time.monotonic() < deadline:
            holder = self.holder()
            if holder is not candidate:
                candidate, since = holder, time.monotonic()
            elif holder is not None and time.monotonic() - since >= stable:
                return holder
            time.sleep(0.1)
        raise TopologyError("the pair did not converge within %ss (addresses: %s)" % (timeout, [n.addresses() for n in self.nodes]))


class Sampler:
    """Samples both nodes' VIPs in a thread; records every moment both held one."""

    def __init__(self, pair, interval=0.1):
        self.pair = pair
        self.interval = interval
        self.samples = 0
        self.overlaps = []  # (monotonic time, VIPs held by both)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            first, second = (node.addresses() & self.pair.vips for node in self.pair.nodes)
            self.samples += 1
            if first & second:
                self.overlaps.append((time.monotonic(), sorted(first & second)))
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def overlaps_since(self, start):
        return [entry for entry in self.overlaps if entry[0] >= start]

    def stop(self):
        self._stop.set()
        self._thread.join(10)


def render_node(role, out, overrides=()):
    """`build-appliance env-template` + `build-appliance render` (with its real config checks) for one role."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = out.parent / ("%s-ovf-env.xml" % role.lower())
    cli = [sys.executable, "-c", "import sys; from builder.cli import main; sys.exit(main(sys.argv[1:]))"]
    sets = []
    for override in overrides:
        sets += ["--set", override]
    run(cli + ["env-template", "--role", role] + sets + ["--out", env], timeout=60)
    run(cli + ["render", "--env", env, "--out", out], timeout=120)
    return out


RECIPE_DIR = Path(__file__).resolve().parent / "recipe"
RECIPE_NODES = {
    # label: (hostname, address, keepalived file)
    "lb1": ("PhotonLB-01", "192.0.2.11/24", "keepalived-lb01.conf"),
    "lb2": ("PhotonLB-02", "192.0.2.12/24", "keepalived-lb02.conf"),
}
RECIPE_VIPS = ("192.0.2.20", "192.0.2.21", "192.0.2.22")


RECIPE_CHECK = 'script "/usr/bin/pgrep -x haproxy"'
RECIPE_CHECK_VERBATIM = 'script "/usr/bin/kill -0 haproxy"'


def recipe_root(label, out, verbatim_check=False):
    """A node root laid out like ours, holding the blog recipe's files (tests/pair/recipe).

    verbatim_check puts back the post's `kill -0 haproxy`, which only
    util-linux kill (Photon's) understands; see recipe/README.md.
    """
    hostname, address, keepalived = RECIPE_NODES[label]
    keepalived_text = (RECIPE_DIR / keepalived).read_text()
    if verbatim_check:
        if RECIPE_CHECK not in keepalived_text:
            raise TopologyError("%s has no %s line to replace" % (keepalived, RECIPE_CHECK))
        keepalived_text = keepalived_text.replace(RECIPE_CHECK, RECIPE_CHECK_VERBATIM)
    out = Path(out)
    files = {
        "etc/hostname": hostname + "\n",
        "etc/systemd/network/10-static-en.network": (RECIPE_DIR / "10-static-en.network").read_text().replace("@ADDRESS@", address),
        "etc/sysctl.d/55-keepalived.conf": (RECIPE_DIR / "55-keepalived.conf").read_text(),
        "etc/systemd/scripts/ip4save": (RECIPE_DIR / "ip4save").read_text(),
        "etc/haproxy/haproxy.cfg": (RECIPE_DIR / "haproxy.cfg").read_text(),
        "etc/keepalived/keepalived.conf": keepalived_text,
    }
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return out
