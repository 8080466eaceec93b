"""The Operations properties (issue 16) at render level: every key valid and invalid, one clear
line each, nothing injected; the statistics page's certificate with the real openssl and
haproxy -c; the VRRP banner line, guestinfo and syslog reporting."""

import base64
import json
import os
import re
import socket
import subprocess

import pytest

from appliance_agent import pipeline, status, tls
from appliance_agent.errors import ValidationError
from appliance_agent.ovfenv import parse_environment
from appliance_agent.settings import validate

from .conftest import require, tree_digest

CERT = "etc/haproxy/certs/stats.pem"

# (overrides, fragment of the one-line fix); each names its key first.
BAD_VALUES = [
    ({"log.syslog_server": "syslog.example.com"}, "log.syslog_server", "is not an IPv4 address; enter address[:port]"),
    ({"log.syslog_server": "192.0.2.50:0"}, "log.syslog_server", "is not 1-65535"),
    ({"log.syslog_server": "192.0.2.50:70000"}, "log.syslog_server", "is not 1-65535"),
    ({"log.syslog_server": "192.0.2.50,192.0.2.51,192.0.2.52"}, "log.syslog_server", "enter at most 2"),
    ({"log.syslog_server": "192.0.2.50,192.0.2.50:514"}, "log.syslog_server", "the same server twice"),
    ({"log.syslog_server": "127.0.0.1"}, "log.syslog_server", "cannot be a syslog server"),
    ({"log.syslog_server": "192.0.2.50\nlog 203.0.113.66"}, "log.syslog_server", "contains a line break"),
    ({"node.routes": "198.51.100.0/24"}, "node.routes", "enter network/prefix via gateway"),
    ({"node.routes": "198.51.100.0/24 through 192.0.2.254"}, "node.routes", "enter network/prefix via gateway"),
    ({"node.routes": "198.51.100.1/24 via 192.0.2.254"}, "node.routes", "enter the network address 198.51.100.0/24"),
    ({"node.routes": "198.51.100.0 via 192.0.2.254"}, "node.routes", "no prefix length"),
    ({"node.routes": "0.0.0.0/0 via 192.0.2.254"}, "node.routes", "the default route is node.gateway"),
    ({"node.routes": "198.51.100.0/24 via 203.0.113.1"}, "node.routes", "not a host of this node's subnet 192.0.2.0/24"),
    ({"node.routes": "192.0.2.128/25 via 192.0.2.254"}, "node.routes", "overlaps this node's own subnet"),
    ({"node.routes": "198.51.100.0/24 via 192.0.2.12"}, "node.routes", "is ha.peer_ip"),
    ({"node.routes": "198.51.100.0/24 via 192.0.2.21"}, "node.routes", "is vip.horizon"),
    ({"node.routes": "198.51.100.0/24 via 192.0.2.254, 198.51.100.0/24 via 192.0.2.253"}, "node.routes", "routed twice"),
    ({"node.routes": ",".join("198.51.%d.0/24 via 192.0.2.254" % n for n in range(17))}, "node.routes", "enter at most 16"),
    ({"node.routes": "198.51.100.0/24 via 192.0.2.254\n[Network]\nDNS=203.0.113.66"}, "node.routes", "contains a line break"),
    ({"stats.tls_certificate": "not base64!"}, "stats.tls_certificate", "is not base64 of a PEM file"),
    ({"stats.tls_certificate": base64.b64encode(b"hello").decode()}, "stats.tls_certificate", "holds no certificate"),
]


@pytest.mark.parametrize("overrides, key, fix", BAD_VALUES, ids=["%s:%s" % (case[1], case[2]) for case in BAD_VALUES])
def test_each_bad_operations_value_is_one_line_naming_the_key(make_env, profile, overrides, key, fix):
    with pytest.raises(ValidationError) as caught:
        validate(parse_environment(make_env("MASTER", overrides)), profile)
    problems = dict(caught.value.problems)
    assert list(problems) == [key], caught.value.problems
    assert fix in problems[key] and "\n" not in problems[key]


def render_root(tmp_path, make_env, profile, overrides=None, name="root", check=False):
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    pipeline.configure(make_env("MASTER", overrides), profile, root=str(root), check=check)
    return root


def test_syslog_servers_reach_haproxy_keepalived_and_the_state(tmp_path, make_env, profile):
    root = render_root(tmp_path, make_env, profile, {"log.syslog_server": "192.0.2.50, 198.51.100.50:1514"})
    haproxy = (root / "etc/haproxy/haproxy.cfg").read_text()
    assert re.findall(r"^    log (\S+) len 1024 local0 info$", haproxy, re.M) == ["192.0.2.50:514", "198.51.100.50:1514"]
    assert "log stdout format raw local0 info" in haproxy  # the journal keeps its copy
    keepalived = (root / "etc/keepalived/keepalived.conf").read_text()
    assert 'notify "/usr/libexec/appliance-agent/vrrp-notify 192.0.2.50:514 198.51.100.50:1514"' in keepalived
    state = json.loads((root / "var/lib/appliance-agent/state.json").read_text())
    assert state["syslog"] == ["192.0.2.50:514", "198.51.100.50:1514"]
    assert status.syslog_servers(str(root)) == [("192.0.2.50", 514), ("198.51.100.50", 1514)]
    assert "Syslog    192.0.2.50:514, 198.51.100.50:1514 (UDP)" in (root / "etc/issue").read_text()


def test_syslog_opens_nothing_in_the_firewall(tmp_path, make_env, profile):
    plain = render_root(tmp_path, make_env, profile, name="plain")
    logging = render_root(tmp_path, make_env, profile, {"log.syslog_server": "192.0.2.50"}, name="logging")
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("# Generated")]
    assert strip((plain / "etc/systemd/scripts/ip4save").read_text()) == strip((logging / "etc/systemd/scripts/ip4save").read_text())
    assert "-A OUTPUT -j ACCEPT" in (plain / "etc/systemd/scripts/ip4save").read_text()


def test_without_syslog_the_notify_hook_gets_no_server(tmp_path, make_env, profile):
    root = render_root(tmp_path, make_env, profile)
    assert 'notify "/usr/libexec/appliance-agent/vrrp-notify"' in (root / "etc/keepalived/keepalived.conf").read_text()
    assert not re.search(r"^    log \d", (root / "etc/haproxy/haproxy.cfg").read_text(), re.M)


def test_routes_become_networkd_route_sections(tmp_path, make_env, profile):
    root = render_root(tmp_path, make_env, profile, {"node.routes": "198.51.100.0/24 via 192.0.2.254, 203.0.113.0/25 VIA 192.0.2.253"})
    network = (root / "etc/systemd/network/10-appliance.network").read_text()
    assert re.findall(r"^\[Route\]\nDestination=(\S+)\nGateway=(\S+)$", network, re.M) == [
        ("198.51.100.0/24", "192.0.2.254"), ("203.0.113.0/25", "192.0.2.253")]
    assert network.index("[Network]") < network.index("[Route]")
    assert "Route     198.51.100.0/24 via 192.0.2.254" in (root / "etc/issue").read_text()


def test_sixteen_routes_are_accepted(make_env, profile):
    routes = ",".join("198.51.%d.0/24 via 192.0.2.254" % n for n in range(16))
    assert len(validate(parse_environment(make_env("MASTER", {"node.routes": routes})), profile).routes) == 16


# --- the statistics page's certificate -------------------------------------------------------


def openssl(*args, cwd):
    require("openssl")
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_bundle(directory, san="IP:192.0.2.20,IP:192.0.2.11", expired=False, key_type="ec"):
    """A self-signed certificate and key made with openssl (a stand-in for the site's CA)."""
    directory.mkdir(parents=True, exist_ok=True)
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    (directory / "ext.cnf").write_text("subjectAltName = %s\nbasicConstraints = CA:FALSE\n" % san)
    openssl("req", "-new", *newkey, "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=lb.example.com", cwd=directory)
    if expired:
        # `openssl ca` takes explicit dates (x509 -days refuses a negative count).
        (directory / "index.txt").write_text("")
        (directory / "ca.cnf").write_text(
            "[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
            "default_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n")
        (directory / "serial").write_text("01\n")
        openssl("ca", "-batch", "-selfsign", "-config", "ca.cnf", "-keyfile", "key.pem", "-in", "req.csr", "-out", "cert.pem",
                "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extfile", "ext.cnf", "-notext", cwd=directory)
    else:
        openssl("x509", "-req", "-in", "req.csr", "-signkey", "key.pem", "-days", "30", "-extfile", "ext.cnf", "-out", "cert.pem", cwd=directory)
    return (directory / "cert.pem").read_text(), (directory / "key.pem").read_text()


def b64(*parts):
    return base64.b64encode("".join(parts).encode("ascii")).decode("ascii")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundles")
    return {
        "good": make_bundle(base / "good"),
        "rsa": make_bundle(base / "rsa", key_type="rsa"),
        "other": make_bundle(base / "other"),
        "expired": make_bundle(base / "expired", expired=True),
        "no-vip": make_bundle(base / "no-vip", san="IP:192.0.2.11,DNS:lb01.example.com"),
    }


def test_generated_certificate_names_the_node_and_is_checked_by_haproxy(tmp_path, make_env, profile):
    require("haproxy")
    root = render_root(tmp_path, make_env, profile, check=True)  # check: the real haproxy -c loads it
    pem = (root / CERT).read_text()
    assert os.stat(root / CERT).st_mode & 0o777 == 0o600
    assert pem.count("BEGIN CERTIFICATE") == 1 and "BEGIN EC PRIVATE KEY" in pem
    text = tls.inspect(pem)
    assert tls.certificate_names(text) == ({"192.0.2.20", "192.0.2.11"}, {"lb01.example.com", "lb01"})
    assert "prime256v1" in text or "P-256" in text
    assert "CA:FALSE" in text and "TLS Web Server Authentication" in text
    assert tls._valid_for(pem, 824 * 86400) and not tls._valid_for(pem, 826 * 86400)
    haproxy = (root / "etc/haproxy/haproxy.cfg").read_text()
    binds = re.findall(r"^    bind (\S+):8404 (.*)$", haproxy, re.M)
    assert binds == [("192.0.2.20", "ssl crt stats.pem ssl-min-ver TLSv1.2"), ("192.0.2.11", "ssl crt stats.pem ssl-min-ver TLSv1.2")]
    assert "crt-base /etc/haproxy/certs" in haproxy
    banner = (root / "etc/issue").read_text()
    fingerprint = tls.fingerprint(pem)
    assert "Stats     https://192.0.2.20:8404/stats" in banner
    assert fingerprint[:47] in banner and fingerprint[48:] in banner
    # The fingerprint is openssl's own.
    with open(root / CERT) as handle:
        shown = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], stdin=handle, capture_output=True, text=True).stdout
    assert shown.strip().split("=", 1)[1] == fingerprint


def test_generated_certificate_is_kept_until_the_names_change(tmp_path, make_env, profile):
    require("openssl")
    root = render_root(tmp_path, make_env, profile)
    first = (root / CERT).read_bytes()
    before = tree_digest(str(root))
    assert pipeline.configure(make_env("MASTER"), profile, root=str(root), check=False).changed == []
    assert tree_digest(str(root)) == before
    # A change that leaves the names alone keeps it...
    pipeline.configure(make_env("MASTER", {"horizon.servers": "cs1=198.51.100.99"}), profile, root=str(root), check=False)
    assert (root / CERT).read_bytes() == first
    # ...a new management VIP replaces it, and the new one names the new VIP.
    changed = pipeline.configure(make_env("MASTER", {"vip.management": "192.0.2.30"}), profile, root=str(root), check=False).changed
    assert CERT in changed and (root / CERT).read_bytes() != first
    assert "192.0.2.30" in tls.certificate_names(tls.inspect((root / CERT).read_text()))[0]


def test_a_damaged_generated_certificate_is_replaced(tmp_path, make_env, profile):
    require("openssl")
    root = render_root(tmp_path, make_env, profile)
    (root / CERT).write_text("garbage")
    pipeline.configure(make_env("MASTER"), profile, root=str(root), check=False)
    assert tls.inspect((root / CERT).read_text()) is not None


def test_provided_bundle_is_installed_0600_and_checked_by_haproxy(tmp_path, make_env, profile, bundles):
    require("haproxy")
    for name in ("good", "rsa"):
        cert, key = bundles[name]
        root = render_root(tmp_path, make_env, profile, {"stats.tls_certificate": b64(cert, key)}, name=name, check=True)
        pem = (root / CERT).read_text()
        assert pem == cert + key and os.stat(root / CERT).st_mode & 0o777 == 0o600
        assert tls.fingerprint(cert) in (root / "etc/issue").read_text().replace("\n            ", ":")
        state = json.loads((root / "var/lib/appliance-agent/state.json").read_text())
        assert state["tls"]["source"] == "provided" and key.split("\n")[1] not in json.dumps(state)


def test_provided_bundle_replaced_by_a_generated_one_when_removed(tmp_path, make_env, profile, bundles):
    cert, key = bundles["good"]
    root = render_root(tmp_path, make_env, profile, {"stats.tls_certificate": b64(cert, key)})
    # Same names as a generated one would have: it is still replaced, it is the admin's.
    pipeline.configure(make_env("MASTER"), profile, root=str(root), check=False)
    assert (root / CERT).read_text() != cert + key
    assert "lb01.example.com" in tls.certificate_names(tls.inspect((root / CERT).read_text()))[1]


@pytest.mark.parametrize("case, fix", [
    ("key-mismatch", "not the first certificate's key"),
    ("expired", "has expired"),
    ("no-vip", "does not name 192.0.2.20"),
    ("no-key", "holds 0 private keys"),
    ("two-keys", "holds 2 private keys"),
    ("encrypted", "encrypted private key"),
    ("csr", "holds a CERTIFICATE REQUEST block"),
    ("damaged", "first certificate does not parse"),
])
def test_bad_bundles_are_refused_in_one_line_and_nothing_changes(tmp_path, make_env, profile, bundles, case, fix):
    cert, key = bundles["good"]
    other_cert, other_key = bundles["other"]
    values = {
        "key-mismatch": b64(cert, other_key),
        "expired": b64(*bundles["expired"]),
        "no-vip": b64(*bundles["no-vip"]),
        "no-key": b64(cert),
        "two-keys": b64(cert, key, other_key),
        "encrypted": b64(cert, key.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")),
        "csr": b64(cert, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", key),
        "damaged": b64(cert.replace(cert.split("\n")[3], "A" * 64), key),
    }
    root = render_root(tmp_path, make_env, profile)
    before = tree_digest(str(root))
    with pytest.raises(ValidationError) as caught:
        pipeline.configure(make_env("MASTER", {"stats.tls_certificate": values[case]}), profile, root=str(root), check=False)
    (line,) = caught.value.lines()
    assert line.startswith("stats.tls_certificate: ") and fix in line, line
    assert "PRIVATE KEY-----" not in line and values[case][:40] not in line
    assert tree_digest(str(root)) == before


def test_the_cli_never_prints_the_key(tmp_path, make_env, profile, bundles):
    from click.testing import CliRunner

    from builder.cli import cli

    cert, key = bundles["good"]
    env = tmp_path / "env.xml"
    env.write_bytes(make_env("MASTER", {"stats.tls_certificate": b64(cert, key)}))
    result = CliRunner().invoke(cli, ["render", "--env", str(env), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "PRIVATE KEY" not in result.output and key.split("\n")[1] not in result.output


# --- VRRP state on the banner, guestinfo, syslog ------------------------------------------------


def test_banner_vrrp_line_follows_the_recorded_state(tmp_path, make_env, profile):
    root = render_root(tmp_path, make_env, profile)
    assert "  VRRP      state not reported yet (keepalived starting)\n" in (root / "etc/issue").read_text()
    (root / "run/appliance-vrrp").mkdir(parents=True)
    (root / "run/appliance-vrrp/state").write_text("MASTER 1796182000\n")
    assert status.refresh_banner(str(root))
    banner = (root / "etc/issue").read_text()
    assert "  VRRP      MASTER since 2026-12-02 03:26:40 UTC\n" in banner
    assert not status.refresh_banner(str(root))
    # A re-apply keeps the reported state (and so changes nothing).
    assert pipeline.configure(make_env("MASTER"), profile, root=str(root), check=False).changed == []
    # Anything but a known state and a number is ignored: the hook's user cannot write the banner.
    (root / "run/appliance-vrrp/state").write_text("MASTER\\n\x1b[2J 1\n")
    status.refresh_banner(str(root))
    assert "  VRRP      state not reported yet" in (root / "etc/issue").read_text()


def test_report_publishes_guestinfo_and_sends_the_apply_result_once(tmp_path, make_env, profile):
    root = render_root(tmp_path, make_env, profile)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        state_path = root / "var/lib/appliance-agent/state.json"
        state = json.loads(state_path.read_text())
        state["syslog"] = ["127.0.0.1:%d" % server.getsockname()[1]]
        state_path.write_text(json.dumps(state))
        status.record_apply(str(root), False, "node.routes: 10.0.0.0/8 overlaps ...", now=1796182000)
        calls = []

        def rpctool(command, **kwargs):
            calls.append(command)
            return subprocess.CompletedProcess(command, 0, "", "")

        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "vmware-rpctool").write_text("#!/bin/sh\n")
        os.chmod(bin_dir / "vmware-rpctool", 0o755)
        old_path = os.environ["PATH"]
        os.environ["PATH"] = "%s:%s" % (bin_dir, old_path)
        try:
            done = status.report(str(root), run=rpctool)
            again = status.report(str(root), run=rpctool)
        finally:
            os.environ["PATH"] = old_path
        datagram = server.recv(4096).decode()
        with pytest.raises(socket.timeout):
            server.settimeout(0.3)
            server.recv(4096)  # sent once only
    assert "syslog" in done and "syslog" not in again
    assert re.match(r"<27>1 2026-12-02T03:26:40Z lb01 appliance-agent - - - configuration FAILED: node.routes: 10.0.0.0/8 overlaps", datagram)
    published = dict(call[1].split(" ", 2)[1:] for call in calls[:4])
    assert published["guestinfo.appliance.role"] == "MASTER"
    assert published["guestinfo.appliance.vrrp_state"] == "state not reported yet (keepalived starting)"
    assert published["guestinfo.appliance.apply"].startswith("failed 2026-12-02 03:26:40 UTC: node.routes")
    assert re.match(r"([0-9A-F]{2}:){31}[0-9A-F]{2}$", published["guestinfo.appliance.stats_fingerprint"])
    assert all(call[0] == "vmware-rpctool" and len(call) == 2 for call in calls)


def test_guestinfo_falls_back_to_vmtoolsd_when_rpctool_is_refused(tmp_path, monkeypatch):
    """With guest_rpc.rpci.auth.cmd.info-set = TRUE, vmware-rpctool answers 'Permission denied' (open-vm-tools #690)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("vmware-rpctool", "vmtoolsd"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        os.chmod(bin_dir / name, 0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    calls = []

    def tools(command, **kwargs):
        calls.append(command)
        refused = command[0] == "vmware-rpctool"
        return subprocess.CompletedProcess(command, 1 if refused else 0, "Permission denied" if refused else "", "")

    lines = []
    assert status.publish_guestinfo({"role": "BACKUP"}, lines.append, run=tools) == ["guestinfo.appliance.role"]
    assert calls == [["vmware-rpctool", "info-set guestinfo.appliance.role BACKUP"],
                     ["vmtoolsd", "--cmd", "info-set guestinfo.appliance.role BACKUP"]]
    assert lines == []
    assert status.publish_guestinfo({"role": "BACKUP"}, lines.append, run=lambda c, **k: subprocess.CompletedProcess(c, 1, "Permission denied", "")) == []
    assert lines and "not set" in lines[0] and "Permission denied" in lines[0]
