"""Every defect of the blog recipe (shared/reference/lb.md section 3) is absent from our output.

`find_defects` reads a node's files the way a reviewer would. It must find
each defect in the recipe's own configs (recipe/, the negative control) and
none in what we render for either role; then the real haproxy -c and
keepalived --config-test accept our files with no warnings at all.
"""

import ipaddress
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance_agent import checks
from appliance_agent.errors import ConfigCheckError
from builder.cli import cli

from .conftest import require

RECIPE = Path(__file__).parent / "recipe"
SECTION = re.compile(r"^\s*(global|defaults|frontend|backend|listen|userlist|peers|resolvers|program)\b(.*)$")


def haproxy_sections(text):
    """[(kind, name, [lines])] of an haproxy.cfg, indented or not."""
    sections = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = SECTION.match(line)
        if match:
            sections.append((match.group(1), match.group(2).strip(), []))
        elif sections:
            sections[-1][2].append(line)
    return sections


def find_defects(keepalived, haproxy, ip4save, sysctl):
    """Ids of the lb.md section 3 defects present in one node's files."""
    defects = set()
    ka = "\n".join(line.split("#", 1)[0].split("!", 1)[0] for line in keepalived.splitlines())
    sections = haproxy_sections(haproxy)
    src = re.search(r"unicast_src_ip\s+(\S+)", ka)
    peers = re.findall(r"unicast_peer\s*\{([^}]*)\}", ka)
    peer_ips = peers[0].split() if peers else []
    # (a) process check by name (kill -0: util-linux only), or no health tracking at all
    if "kill -0" in ka or "vrrp_script" not in ka or "track_script" not in ka:
        defects.add("a-weak-health-check")
    # (b) VRRP (proto 112) not accepted from the peer by the firewall
    if not any(re.search(r"-p (112|vrrp)\b.*-s %s\b" % re.escape(ip), ip4save) for ip in peer_ips):
        defects.add("b-vrrp-blocked")
    # (c) unicast peer outside the node's subnet (the recipe's 192.168.1.x typo)
    if src:
        subnet = ipaddress.ip_network(src.group(1) + "/24", strict=False)
        if not peer_ips or any(ipaddress.ip_address(ip) not in subnet for ip in peer_ips):
            defects.add("c-peer-outside-subnet")
    # (d) AH authentication
    if re.search(r"\bauth_type\b", ka):
        defects.add("d-ah-authentication")
    # (e) clear-text stats passwords
    if "insecure-password" in haproxy:
        defects.add("e-insecure-password")
    # (f) redirect conditioned on ssl_fc on a non-TLS bind
    if "ssl_fc" in haproxy:
        defects.add("f-ssl-fc-redirect")
    # (g) script security
    if "enable_script_security" not in ka:
        defects.add("g-no-script-security")
    # (h1) garp/gna intervals of 0, rejected by keepalived 2.2.7
    if re.search(r"vrrp_(garp|gna)_interval\s+0\b", ka):
        defects.add("h1-zero-garp-interval")
    for kind, name, lines in sections:
        if any(line.startswith("stats enable") for line in lines) and any(line.startswith("server ") for line in lines):
            defects.add("h2-stats-proxy-loop")  # (h2)
        if any(line.startswith("balance source") for line in lines) and "hash-type consistent" not in lines:
            defects.add("h8-map-based-source-hash")  # (h8)
        if any(line.startswith("option ssl-hello-chk") for line in lines):
            defects.add("p2-ssl-hello-chk")  # part 2: SSLv3 hello, overridden anyway
        if kind == "frontend" and any(line.startswith("timeout server") for line in lines):
            defects.add("p2-timeout-server-in-frontend")
        if kind == "backend" and any(line.startswith("server ") for line in lines):
            if not any(line.startswith(("stick-table", "stick on")) for line in lines):
                defects.add("p3-no-persistence")
    # (i16) the stats page's password crosses the network in clear: a bind of it without ssl
    stats_sections = {name for kind, name, lines in sections if any(line.startswith("stats enable") for line in lines)}
    for kind, name, lines in sections:
        serves_stats = name in stats_sections or any(line.split()[1:2] and line.split()[1] in stats_sections for line in lines if line.startswith("default_backend"))
        if kind in ("frontend", "listen") and serves_stats and any(line.startswith("bind ") and " ssl " not in line + " " for line in lines):
            defects.add("i16-stats-in-clear")
    # (h3) forwarding switched on although HAProxy only proxies; non-local bind missing
    if re.search(r"ip_forward\s*=\s*1", sysctl) or not re.search(r"ip_nonlocal_bind\s*=\s*1", sysctl):
        defects.add("h3-sysctl")
    # (h4) stats (or anything) bound to every address
    if re.search(r"^\s*bind\s+(\*|:::|0\.0\.0\.0):", haproxy, re.M):
        defects.add("h4-bind-any-address")
    globals_ = [lines for kind, _, lines in sections if kind == "global"]
    global_lines = globals_[0] if globals_ else []
    # (h5) no logging
    if not any(line.startswith("log ") for line in global_lines):
        defects.add("h5-no-log")
    # (h6) HAProxy runs as root
    if not any(line.startswith("user ") for line in global_lines) or "daemon" in global_lines:
        defects.add("h6-runs-as-root")
    # (h7) long-lived TCP sessions cut by 30 s client/server timeouts
    if "timeout tunnel" not in haproxy:
        defects.add("h7-short-tcp-timeouts")
    # part 3: stick tables not shared with the peer
    if "stick-table" in haproxy and not re.search(r"stick-table .* peers \S+", haproxy):
        defects.add("p3-tables-not-synced")
    if "stick-table" not in haproxy:
        defects.add("p3-tables-not-synced")
    # (h12) peers section whose port the firewall does not open from the peer
    peer_section = [lines for kind, _, lines in sections if kind == "peers"]
    if peer_section:
        ports = set(re.findall(r":(\d+)$", " ".join(peer_section[0])) or re.findall(r"peer \S+ \S+:(\d+)", "\n".join(peer_section[0])))
        for port in ports:
            if not any(re.search(r"-s %s\b.*--dport %s\b" % (re.escape(ip), port), ip4save) for ip in peer_ips):
                defects.add("h12-peers-port-closed")
        if "localpeer" not in haproxy:
            defects.add("h12-peer-name-is-hostname")
    return defects


RECIPE_DEFECTS = {
    "a-weak-health-check", "b-vrrp-blocked", "c-peer-outside-subnet", "d-ah-authentication", "e-insecure-password",
    "f-ssl-fc-redirect", "g-no-script-security", "h1-zero-garp-interval", "h2-stats-proxy-loop", "h3-sysctl",
    "h4-bind-any-address", "h5-no-log", "h6-runs-as-root", "h7-short-tcp-timeouts", "h8-map-based-source-hash",
    "p2-ssl-hello-chk", "p3-no-persistence", "p3-tables-not-synced", "i16-stats-in-clear",
}


def test_the_checks_find_every_defect_in_the_recipe():
    found = find_defects(*(RECIPE.joinpath(name).read_text() for name in ("keepalived.conf", "haproxy.cfg", "ip4save", "sysctl.conf")))
    assert found == RECIPE_DEFECTS


@pytest.fixture(scope="module")
def rendered_pair(tmp_path_factory, profile):
    from appliance_agent.ovfenv import build_environment
    from appliance_agent.sample import sample_properties

    roots = {}
    for role in ("MASTER", "BACKUP"):
        base = tmp_path_factory.mktemp(role.lower())
        env = base / "env.xml"
        env.write_bytes(build_environment(sample_properties(profile, role)))
        result = CliRunner().invoke(cli, ["render", "--env", str(env), "--out", str(base / "root"), "--no-check"])
        assert result.exit_code == 0, result.output
        roots[role] = base / "root"
    return roots


def _files(root):
    return [
        (root / path).read_text()
        for path in ("etc/keepalived/keepalived.conf", "etc/haproxy/haproxy.cfg", "etc/systemd/scripts/ip4save", "etc/sysctl.d/55-keepalived.conf")
    ]


@pytest.mark.parametrize("role", ["MASTER", "BACKUP"])
def test_no_recipe_defect_in_our_output(rendered_pair, role):
    assert find_defects(*_files(rendered_pair[role])) == set()


def test_the_pair_points_at_each_other(rendered_pair):
    master = (rendered_pair["MASTER"] / "etc/keepalived/keepalived.conf").read_text()
    backup = (rendered_pair["BACKUP"] / "etc/keepalived/keepalived.conf").read_text()
    assert "unicast_src_ip 192.0.2.11" in master and re.search(r"unicast_peer \{\s+192.0.2.12\s+\}", master)
    assert "unicast_src_ip 192.0.2.12" in backup and re.search(r"unicast_peer \{\s+192.0.2.11\s+\}", backup)
    assert re.search(r"priority (\d+)", master).group(1) > re.search(r"priority (\d+)", backup).group(1)
    for text in (master, backup):
        assert "state BACKUP" in text and "nopreempt" in text and "virtual_router_id 51" in text
    master_cfg = (rendered_pair["MASTER"] / "etc/haproxy/haproxy.cfg").read_text()
    backup_cfg = (rendered_pair["BACKUP"] / "etc/haproxy/haproxy.cfg").read_text()
    assert "localpeer lb-master" in master_cfg and "localpeer lb-backup" in backup_cfg
    # Apart from the local peer name, node address and hashes, both nodes balance identically.
    strip = lambda text: [line for line in text.splitlines() if not re.search(r"localpeer|show-node|password|192\.0\.2\.1[12]:8404", line)]
    assert strip(master_cfg) == strip(backup_cfg)


def test_horizon_and_uag_follow_vmware_guidance(rendered_pair):
    sections = {(kind, name): lines for kind, name, lines in haproxy_sections((rendered_pair["MASTER"] / "etc/haproxy/haproxy.cfg").read_text())}
    horizon = sections[("backend", "horizon")]
    assert "http-check send meth HEAD uri /favicon.ico ver HTTP/1.1 hdr Host 192.0.2.21 hdr Connection close" in horizon
    assert "http-check expect status 200" in horizon
    assert "stick-table type ip size 200k expire 90m peers lbpair" in horizon
    uag443, uag8443 = sections[("backend", "uag-443")], sections[("backend", "uag-8443")]
    assert any(line.startswith("http-check send meth GET uri /favicon.ico") for line in uag443)
    assert "option persist" in uag443  # quiesced UAGs keep their sessions
    assert "stick on src table uag-443" in uag8443 and not any(line.startswith("stick-table") for line in uag8443)
    def name_and_id(lines):
        fields = [line.split() for line in lines if line.startswith("server ")]
        return [(words[1], words[words.index("id") + 1]) for words in fields]

    # A shared stick table finds the server by name, then id: both must match across ports.
    assert name_and_id(uag443) == name_and_id(uag8443) == [("uag1", "1"), ("uag2", "2")]
    assert all(line.endswith("track uag-443/%s" % line.split()[1]) for line in uag8443 if line.startswith("server "))


def test_no_secret_in_clear_anywhere(rendered_pair, profile):
    from appliance_agent.sample import sample_properties

    secrets = [value for key, value in sample_properties(profile, "MASTER").items() if key.endswith("password") and value]
    for root in rendered_pair.values():
        for path in root.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in content, "%s holds a password in clear" % path


@pytest.mark.parametrize("role", ["MASTER", "BACKUP"])
def test_real_daemons_accept_our_configs_without_warnings(rendered_pair, role, tmp_path):
    require("haproxy")
    require("keepalived")
    # The config names its certificate under /etc/haproxy/certs; here it is in the rendered root.
    config = (rendered_pair[role] / "etc/haproxy/haproxy.cfg").read_text()
    assert "crt-base /etc/haproxy/certs\n" in config
    (tmp_path / "haproxy.cfg").write_text(config.replace("crt-base /etc/haproxy/certs\n", "crt-base %s\n" % (rendered_pair[role] / "etc/haproxy/certs")))
    assert checks.check_haproxy(str(tmp_path / "haproxy.cfg")) == []
    assert checks.check_keepalived(str(rendered_pair[role] / "etc/keepalived/keepalived.conf")) == []


def test_real_daemons_reject_the_recipe():
    """keepalived 2.2.7 refuses the recipe's garp lines; HAProxy loads its (defective) config."""
    require("haproxy")
    require("keepalived")
    with pytest.raises(ConfigCheckError, match="vrrp_garp_interval|outside range|invalid"):
        checks.check_keepalived(str(RECIPE / "keepalived.conf"))
    # haproxy -c cannot see those defects: that is what find_defects is for.
    assert checks.check_haproxy(str(RECIPE / "haproxy.cfg")) == []


def test_firewall_rules_load_in_iptables_restore(rendered_pair):
    require("iptables-restore")
    import subprocess

    for root in rendered_pair.values():
        result = subprocess.run(["iptables-restore", "--test", str(root / "etc/systemd/scripts/ip4save")], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
