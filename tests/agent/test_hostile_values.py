"""Hostile and careless property values and OVF environment documents, through the agent's CLI.

Each refused case: exit 1, one line naming the key and the fix, no traceback,
the good root unchanged, no temporary file. Each accepted case: exit 0 and no
rendered file gained a line. Cases marked (bug) were accepted or crashed
before issue 14.
"""

import base64
import os

import pytest

from appliance_agent.ovfenv import OVF_ENV_NS

from .hostile import KEY1, KEY2, assert_accepted, assert_clean_failure, environment, good_values, ssh_key, ssh_string

ED = ssh_key()
ED_BLOB = ED.split()[1]
LONG = "x" * 10000
PASSWORD = "Sample-root-Passw0rd"

# (id, overrides, key named first on the error line, fragment of the fix)
REFUSED = [
    # node.ssh_key (bug: several lines, options, early END marker, bare header)
    ("ssh-two-keys", {"node.ssh_key": KEY1 + "\n" + KEY2}, "node.ssh_key", "on one line"),
    ("ssh-end-marker", {"node.ssh_key": KEY1 + "\n# END appliance-agent\n" + KEY2}, "node.ssh_key", "on one line"),
    ("ssh-cr", {"node.ssh_key": KEY1 + "\r" + KEY2}, "node.ssh_key", "on one line"),
    ("ssh-crlf-trailing", {"node.ssh_key": KEY1 + "\r\n"}, "node.ssh_key", "without control characters"),
    ("ssh-command-option", {"node.ssh_key": 'command="id" ' + KEY1}, "node.ssh_key", "remove them"),
    ("ssh-from-option", {"node.ssh_key": 'from="*" ' + KEY1}, "node.ssh_key", "remove them"),
    ("ssh-no-pty-option", {"node.ssh_key": "no-pty " + KEY1}, "node.ssh_key", "remove them"),
    ("ssh-restrict-option", {"node.ssh_key": "restrict,command=\"sh\" " + KEY1}, "node.ssh_key", "remove them"),
    ("ssh-header-only", {"node.ssh_key": "ssh-ed25519"}, "node.ssh_key", "no key data"),
    ("ssh-header-blob-only", {"node.ssh_key": "ssh-ed25519 " + base64.b64encode(ssh_string(b"ssh-ed25519")).decode()}, "node.ssh_key", "no complete key material"),
    ("ssh-empty-material", {"node.ssh_key": ssh_key(fields=[b""])}, "node.ssh_key", "no complete key material"),
    ("ssh-short-ed25519", {"node.ssh_key": ssh_key(fields=[b"\x01" * 31])}, "node.ssh_key", "not 32"),
    ("ssh-extra-field", {"node.ssh_key": ssh_key(fields=[b"\x01" * 32, b"more"])}, "node.ssh_key", "no complete key material"),
    ("ssh-rsa-missing-modulus", {"node.ssh_key": ssh_key("ssh-rsa", fields=[b"\x01\x00\x01"])}, "node.ssh_key", "no complete key material"),
    ("ssh-ecdsa-wrong-curve", {"node.ssh_key": ssh_key("ecdsa-sha2-nistp256", fields=[b"nistp384", b"\x04" * 65])}, "node.ssh_key", "another curve"),
    ("ssh-truncated-blob", {"node.ssh_key": "ssh-ed25519 " + base64.b64encode(base64.b64decode(ED_BLOB)[:-5]).decode()}, "node.ssh_key", "damaged"),
    ("ssh-bad-base64", {"node.ssh_key": "ssh-ed25519 AAAA!!!!"}, "node.ssh_key", "damaged"),
    ("ssh-base64-padding", {"node.ssh_key": "ssh-ed25519 " + ED_BLOB[:-1]}, "node.ssh_key", "damaged"),
    ("ssh-type-mismatch", {"node.ssh_key": "ssh-rsa " + ED_BLOB}, "node.ssh_key", "paste the .pub file unchanged"),
    ("ssh-unknown-type", {"node.ssh_key": "ssh-dss " + ED_BLOB}, "node.ssh_key", "not an OpenSSH public key"),
    ("ssh-private-key", {"node.ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "node.ssh_key", "not an OpenSSH public key"),
    ("ssh-csi-in-comment", {"node.ssh_key": KEY1 + "\x9b2J"}, "node.ssh_key", "U+009B"),
    ("ssh-tab-separated", {"node.ssh_key": KEY1.replace(" ", "\t", 1)}, "node.ssh_key", "a tab"),
    ("ssh-del-in-comment", {"node.ssh_key": KEY1 + "\x7f"}, "node.ssh_key", "control character"),
    ("ssh-line-separator", {"node.ssh_key": KEY1 + "\u2028" + KEY2}, "node.ssh_key", "U+2028"),
    ("ssh-nel", {"node.ssh_key": KEY1 + "\u0085" + KEY2}, "node.ssh_key", "U+0085"),
    ("ssh-too-long", {"node.ssh_key": KEY1 + " " + "c" * 9000}, "node.ssh_key", "at most 8192"),
    # node.domain (bug: '$' matched before a newline)
    ("domain-newline-label", {"node.domain": "corp\n.inj.example.com"}, "node.domain", "on one line"),
    ("domain-newline-inside", {"node.domain": "corp.example.com\nDNS=203.0.113.66"}, "node.domain", "on one line"),
    ("domain-paragraph-separator", {"node.domain": "corp\u2029example.com"}, "node.domain", "U+2029"),
    ("domain-empty-label", {"node.domain": "corp..example.com"}, "node.domain", "not a DNS domain"),
    ("domain-leading-dash", {"node.domain": "-corp.example.com"}, "node.domain", "not a DNS domain"),
    ("domain-underscore", {"node.domain": "ex_ample.com"}, "node.domain", "not a DNS domain"),
    ("domain-blank", {"node.domain": "exa mple.com"}, "node.domain", "not a DNS domain"),
    ("domain-label-64", {"node.domain": "a" * 64 + ".com"}, "node.domain", "not a DNS domain"),
    ("domain-too-long", {"node.domain": ("a" * 60 + ".") * 5 + "com"}, "node.domain", "at most 253"),
    ("domain-unicode", {"node.domain": "bücher.example.com"}, "node.domain", "not a DNS domain"),
    ("domain-10k", {"node.domain": LONG}, "node.domain", "at most 253"),
    # node.hostname
    ("hostname-newline", {"node.hostname": "lb01\n"}, "node.hostname", "on one line"),
    ("hostname-newline-hosts", {"node.hostname": "lb01\n203.0.113.66 evil"}, "node.hostname", "on one line"),
    ("hostname-blank", {"node.hostname": "lb 01"}, "node.hostname", "without the domain"),
    ("hostname-dash", {"node.hostname": "-lb01"}, "node.hostname", "not starting or ending"),
    ("hostname-64", {"node.hostname": "a" * 64}, "node.hostname", "at most 63"),
    ("hostname-fqdn", {"node.hostname": "lb01.example.com"}, "node.hostname", "without the domain"),
    ("hostname-unicode", {"node.hostname": "lb０1"}, "node.hostname", "letters, digits"),
    ("hostname-empty", {"node.hostname": ""}, "node.hostname", "is required"),
    ("hostname-10k", {"node.hostname": LONG}, "node.hostname", "at most 63"),
    ("hostname-c1-control", {"node.hostname": "lb\x8501"}, "node.hostname", "U+0085"),
    # node.role
    ("role-newline", {"node.role": "MASTER\n"}, "node.role", "on one line"),
    ("role-other", {"node.role": "PRIMARY"}, "node.role", "MASTER on one node"),
    ("role-del", {"node.role": "MAST\x7fER"}, "node.role", "U+007F"),
    # node.ip (bug: Unicode digits through isdigit())
    ("ip-superscript-prefix", {"node.ip": "192.0.2.11/2\u00b2"}, "node.ip", "enter 8 to 30"),
    ("ip-fullwidth-prefix", {"node.ip": "192.0.2.11/\uff12\uff14"}, "node.ip", "enter 8 to 30"),
    ("ip-arabic-prefix", {"node.ip": "192.0.2.11/\u0662\u0664"}, "node.ip", "enter 8 to 30"),
    ("ip-loopback", {"node.ip": "127.0.0.1/8"}, "node.ip", "loopback"),
    ("ip-multicast", {"node.ip": "224.0.0.5/24"}, "node.ip", "multicast"),
    ("ip-unspecified", {"node.ip": "0.0.0.0/8"}, "node.ip", "unspecified"),
    ("ip-reserved", {"node.ip": "240.0.0.1/24"}, "node.ip", "reserved"),
    ("ip-newline", {"node.ip": "192.0.2.11/24\n"}, "node.ip", "on one line"),
    ("ip-padded", {"node.ip": "192.0.2.11/24" + " " * 10}, "node.ip", "at most 18"),
    ("ip-prefix-31", {"node.ip": "192.0.2.11/31"}, "node.ip", "enter 8 to 30"),
    ("ip-network", {"node.ip": "192.0.2.0/24"}, "node.ip", "choose a host address"),
    ("ip-no-prefix", {"node.ip": "192.0.2.11"}, "node.ip", "no prefix length"),
    ("ip-octal-looking", {"node.ip": "192.0.2.011/24"}, "node.ip", "not an IPv4 address"),
    # node.gateway (bug: network/broadcast accepted)
    ("gateway-network", {"node.gateway": "192.0.2.0"}, "node.gateway", "network address"),
    ("gateway-broadcast", {"node.gateway": "192.0.2.255"}, "node.gateway", "broadcast address"),
    ("gateway-loopback", {"node.gateway": "127.0.0.1"}, "node.gateway", "loopback"),
    ("gateway-multicast", {"node.gateway": "224.0.0.1"}, "node.gateway", "multicast"),
    ("gateway-limited-broadcast", {"node.gateway": "255.255.255.255"}, "node.gateway", "broadcast"),
    ("gateway-newline", {"node.gateway": "192.0.2.1\nDNS"}, "node.gateway", "on one line"),
    ("gateway-fullwidth", {"node.gateway": "192.0.2.\uff11"}, "node.gateway", "not an IPv4 address"),
    # ha.peer_ip (bug: network/broadcast accepted)
    ("peer-network", {"ha.peer_ip": "192.0.2.0"}, "ha.peer_ip", "network address"),
    ("peer-broadcast", {"ha.peer_ip": "192.0.2.255"}, "ha.peer_ip", "broadcast address"),
    ("peer-loopback", {"ha.peer_ip": "127.0.0.1"}, "ha.peer_ip", "loopback"),
    ("peer-vrrp-multicast", {"ha.peer_ip": "224.0.0.18"}, "ha.peer_ip", "multicast"),
    ("peer-unspecified", {"ha.peer_ip": "0.0.0.0"}, "ha.peer_ip", "unspecified"),
    ("peer-tab", {"ha.peer_ip": "192.0.2.12\t"}, "ha.peer_ip", "a tab"),
    # node.dns (bug: broadcast/network accepted)
    ("dns-broadcast", {"node.dns": "192.0.2.255"}, "node.dns", "not a DNS server"),
    ("dns-network", {"node.dns": "192.0.2.53,192.0.2.0"}, "node.dns", "not a DNS server"),
    ("dns-loopback", {"node.dns": "127.0.0.53"}, "node.dns", "loopback"),
    ("dns-multicast", {"node.dns": "224.0.0.251"}, "node.dns", "multicast"),
    ("dns-unspecified", {"node.dns": "0.0.0.0"}, "node.dns", "unspecified"),
    ("dns-blank-inside", {"node.dns": "192.0.2.53 192.0.2.54"}, "node.dns", "separate the entries with commas"),
    ("dns-newline", {"node.dns": "192.0.2.53\n192.0.2.54"}, "node.dns", "on one line"),
    ("dns-too-long", {"node.dns": ",".join(["192.0.2.53"] * 30)}, "node.dns", "at most 255"),
    ("dns-name", {"node.dns": "dns.example.com"}, "node.dns", "not an IPv4 address"),
    # node.ntp
    ("ntp-newline", {"node.ntp": "ntp1.example.com\nNTP=203.0.113.66"}, "node.ntp", "on one line"),
    ("ntp-loopback", {"node.ntp": "127.0.0.1"}, "node.ntp", "loopback"),
    ("ntp-blank-inside", {"node.ntp": "ntp 1.example.com"}, "node.ntp", "separate the entries with commas"),
    ("ntp-bad-name", {"node.ntp": "-bad.example.com"}, "node.ntp", "neither an IPv4 address nor a host name"),
    ("ntp-bad-address", {"node.ntp": "192.0.2.300"}, "node.ntp", "not a valid IPv4 address"),
    ("ntp-too-long", {"node.ntp": "n" * 1025}, "node.ntp", "at most 1024"),
    # ha.vrid (bug: Unicode digits)
    ("vrid-fullwidth", {"ha.vrid": "\uff15\uff11"}, "ha.vrid", "enter 1 to 255"),
    ("vrid-superscript", {"ha.vrid": "\u00b2"}, "ha.vrid", "enter 1 to 255"),
    ("vrid-devanagari", {"ha.vrid": "\u0967"}, "ha.vrid", "enter 1 to 255"),
    ("vrid-newline", {"ha.vrid": "51\n"}, "ha.vrid", "on one line"),
    ("vrid-hex", {"ha.vrid": "0x33"}, "ha.vrid", "enter 1 to 255"),
    ("vrid-negative", {"ha.vrid": "-1"}, "ha.vrid", "enter 1 to 255"),
    ("vrid-256", {"ha.vrid": "256"}, "ha.vrid", "enter 1 to 255"),
    ("vrid-huge", {"ha.vrid": "9" * 5000}, "ha.vrid", "enter 1 to 255"),
    ("vrid-empty", {"ha.vrid": ""}, "ha.vrid", "enter e.g. 51"),
    # VIPs
    ("vip-loopback", {"vip.horizon": "127.0.0.1"}, "vip.horizon", "loopback"),
    ("vip-multicast", {"vip.horizon": "224.0.0.1"}, "vip.horizon", "multicast"),
    ("vip-unspecified", {"vip.management": "0.0.0.0"}, "vip.management", "unspecified"),
    ("vip-network", {"vip.uag": "192.0.2.0"}, "vip.uag", "not a host address"),
    ("vip-broadcast", {"vip.uag": "192.0.2.255"}, "vip.uag", "not a host address"),
    ("vip-newline", {"vip.horizon": "192.0.2.21\n"}, "vip.horizon", "on one line"),
    ("vip-too-long", {"vip.horizon": "192.0.2.21" + " " * 10}, "vip.horizon", "at most 15"),
    ("vip-node-address", {"vip.horizon": "192.0.2.11"}, "vip.horizon", "already used by node.ip"),
    # backends (bug: blanks split entries, Unicode ports, own addresses)
    ("servers-blank-in-name", {"horizon.servers": "cs 1=198.51.100.11"}, "horizon.servers", "separate the entries with commas"),
    ("servers-blank-separated", {"horizon.servers": "cs1=198.51.100.11 cs2=198.51.100.12"}, "horizon.servers", "separate the entries with commas"),
    ("servers-blank-in-host", {"horizon.servers": "cs1=exa mple.com"}, "horizon.servers", "separate the entries with commas"),
    ("servers-fullwidth-port", {"appvolumes.servers": "av1=198.51.100.21:\uff14\uff14\uff13"}, "appvolumes.servers", "is not 1-65535"),
    ("servers-superscript-port", {"appvolumes.servers": "av1=198.51.100.21:\u00b3"}, "appvolumes.servers", "is not 1-65535"),
    ("servers-port-0", {"appvolumes.servers": "av1=198.51.100.21:0"}, "appvolumes.servers", "is not 1-65535"),
    ("servers-port-65536", {"appvolumes.servers": "av1=198.51.100.21:65536"}, "appvolumes.servers", "is not 1-65535"),
    ("servers-port-name", {"appvolumes.servers": "av1=198.51.100.21:https"}, "appvolumes.servers", "is not 1-65535"),
    ("servers-own-vip", {"horizon.servers": "cs1=192.0.2.21"}, "horizon.servers", "the address of vip.horizon"),
    ("servers-management-vip", {"horizon.servers": "cs1=192.0.2.20"}, "horizon.servers", "the address of vip.management"),
    ("servers-node-address", {"appvolumes.servers": "av1=192.0.2.11"}, "appvolumes.servers", "the address of node.ip"),
    ("servers-peer-address", {"uag.servers": "uag1=192.0.2.12"}, "uag.servers", "the address of ha.peer_ip"),
    ("servers-loopback", {"horizon.servers": "cs1=127.0.0.1"}, "horizon.servers", "loopback"),
    ("servers-multicast", {"horizon.servers": "cs1=239.1.1.1"}, "horizon.servers", "multicast"),
    ("servers-unspecified", {"horizon.servers": "cs1=0.0.0.0"}, "horizon.servers", "unspecified"),
    ("servers-newline", {"horizon.servers": "cs1=198.51.100.11\n    server evil 203.0.113.66:443"}, "horizon.servers", "on one line"),
    ("servers-name-slash", {"horizon.servers": "c/s=198.51.100.11"}, "horizon.servers", "is not usable"),
    ("servers-name-long", {"horizon.servers": "c" * 40 + "=198.51.100.11"}, "horizon.servers", "at most 32"),
    ("servers-duplicate-name", {"horizon.servers": "a=198.51.100.1,a=198.51.100.2"}, "horizon.servers", "used twice"),
    ("servers-10k", {"horizon.servers": "cs1=" + LONG}, "horizon.servers", "at most 4096"),
    ("servers-long-bad-host", {"horizon.servers": "cs1=" + "-" + "a" * 3000}, "horizon.servers", "characters)"),
    # stats.allowed_networks
    ("networks-newline", {"stats.allowed_networks": "192.0.2.0/24\n"}, "stats.allowed_networks", "on one line"),
    ("networks-prefix-33", {"stats.allowed_networks": "192.0.2.0/33"}, "stats.allowed_networks", "not an IPv4 network"),
    ("networks-blank", {"stats.allowed_networks": "192.0.2.0 /24"}, "stats.allowed_networks", "separate the entries with commas"),
    ("networks-word", {"stats.allowed_networks": "everyone"}, "stats.allowed_networks", "not an IPv4 network"),
    ("networks-fullwidth", {"stats.allowed_networks": "192.0.2.0/\uff12\uff14"}, "stats.allowed_networks", "not an IPv4 network"),
    ("networks-too-long", {"stats.allowed_networks": "1" * 1025}, "stats.allowed_networks", "at most 1024"),
]

# Password cases: like REFUSED, and the value must appear nowhere in the output.
REFUSED_SECRETS = [
    ("admin-newline", "stats.admin_password", "Adm1n-passw0rd\nuser evil insecure-password x", "line break"),
    ("admin-60k", "stats.admin_password", "P" * 60000, "at most 128"),
    ("admin-129", "stats.admin_password", "Q" * 129, "at most 128"),
    ("admin-c1-control", "stats.admin_password", "Adm1n-pass\x80word", "U+0080"),
    ("admin-4-byte-utf8", "stats.admin_password", "\U0001F511" * 128, "511 bytes"),
    ("admin-short", "stats.admin_password", "Sh0rt!x", "at least 8"),
    ("readonly-tab", "stats.readonly_password", "Read-only\tstats1", "a tab"),
    ("readonly-cr", "stats.readonly_password", "Read-only\rstats1", "carriage return"),
    ("readonly-short", "stats.readonly_password", "1234567", "at least 8"),
    ("root-newline", "node.root_password", "Root-passw0rd\nroot::0:0", "line break"),
    ("root-100k", "node.root_password", "R" * 100000, "at most 128"),
    ("root-del", "node.root_password", "Root-passw0rd\x7f", "control character"),
    ("root-short", "node.root_password", "Sh0rt", "at least 8"),
]


@pytest.mark.parametrize("overrides, key, fix", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_value(node, profile, overrides, key, fix):
    before = node.digest()
    run = node.apply(environment(profile, overrides))
    assert_clean_failure(run, node, before, key, fix)
    assert run.problems[0].startswith(key + ": ")


@pytest.mark.parametrize("key, value, fix", [case[1:] for case in REFUSED_SECRETS], ids=[case[0] for case in REFUSED_SECRETS])
def test_refused_password_is_never_shown(node, profile, key, value, fix):
    before = node.digest()
    run = node.apply(environment(profile, {key: value}))
    assert_clean_failure(run, node, before, key, fix, secret=value[:8] if len(set(value)) > 1 else value[:20])
    assert run.problems[0].startswith(key + ": ")


# (id, overrides, marker that must reach no file, or "")
ACCEPTED = [
    ("domain-trailing-dot-case", {"node.domain": "Example.COM."}, ""),
    ("hostname-upper", {"node.hostname": "LB01"}, ""),
    ("hostname-blanks-around", {"node.hostname": "  lb01  "}, ""),
    ("ssh-rsa", {"node.ssh_key": ssh_key("ssh-rsa")}, ""),
    ("ssh-ecdsa-256", {"node.ssh_key": ssh_key("ecdsa-sha2-nistp256")}, ""),
    ("ssh-ecdsa-384", {"node.ssh_key": ssh_key("ecdsa-sha2-nistp384")}, ""),
    ("ssh-sk-ed25519", {"node.ssh_key": ssh_key("sk-ssh-ed25519@openssh.com")}, ""),
    ("ssh-sk-ecdsa", {"node.ssh_key": ssh_key("sk-ecdsa-sha2-nistp256@openssh.com")}, ""),
    ("ssh-no-comment", {"node.ssh_key": ssh_key(comment="")}, ""),
    ("ssh-comment-with-blanks", {"node.ssh_key": ssh_key(comment="admin at  the desk # END appliance-agent")}, ""),
    ("ssh-blanks-around", {"node.ssh_key": "   " + KEY2 + "   "}, ""),
    ("ssh-cleared", {"node.ssh_key": ""}, ""),
    ("password-xml-specials", {"stats.admin_password": "&<>\"'&amp;<!--"}, ""),
    ("password-unicode", {"stats.admin_password": "Pässwörd-ünïcödé"}, ""),
    ("password-128", {"node.root_password": "r" * 128}, ""),
    ("password-blanks", {"stats.readonly_password": "  with  blanks  "}, ""),
    ("servers-blanks-around-commas", {"horizon.servers": " cs1=198.51.100.11 , cs2=198.51.100.12 "}, ""),
    ("servers-names", {"horizon.servers": "cs1=cs1.example.com,cs2=cs2.example.com"}, ""),
    ("servers-empty-items", {"horizon.servers": "cs1=198.51.100.11,,cs2=198.51.100.12,"}, ""),
    ("servers-gateway-host", {"uag.servers": "uag1=198.51.100.31,uag2=192.0.2.1"}, ""),
    ("ntp-blanks-around", {"node.ntp": " ntp1.example.com , 192.0.2.123 "}, ""),
    ("dns-blanks-around", {"node.dns": " 192.0.2.53 , 192.0.2.54 "}, ""),
    ("dns-outside-subnet", {"node.dns": "198.51.100.53,203.0.113.53"}, ""),
    ("vrid-255", {"ha.vrid": "255"}, ""),
    ("vrid-leading-zero", {"ha.vrid": "051"}, ""),
    ("networks-host-bits", {"stats.allowed_networks": "192.0.2.77/24,203.0.113.0/24"}, ""),
    ("vip-blanks-around", {"vip.uag": " 192.0.2.23 "}, ""),
    ("service-switched-off", {"vip.appvolumes": "", "appvolumes.servers": ""}, ""),
    ("hostname-at-max", {"node.hostname": "a" * 63}, ""),
    ("domain-at-max", {"node.domain": ("a" * 62 + ".") * 3 + "b" * 63}, ""),
]


@pytest.mark.parametrize("overrides, marker", [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_accepted_value_injects_nothing(node, profile, good_counts, overrides, marker):
    run = node.apply(environment(profile, overrides), check=True)
    assert_accepted(run, node, good_counts, [marker] if marker else ())
    for key, value in overrides.items():
        if "password" in key and value:
            assert value not in run.everything


def test_open_stats_network_is_accepted_with_a_warning(node, profile, good_counts):
    """0.0.0.0/0 works, but lets anyone reach the admin page: a warning on the console (bug: silent)."""
    run = node.apply(environment(profile, {"stats.allowed_networks": "0.0.0.0/0"}), check=True)
    assert_accepted(run, node, good_counts)
    warnings = [line for line in run.out.splitlines() if "warning: stats.allowed_networks: 0.0.0.0/0" in line]
    assert len(warnings) == 1 and "enter the management networks" in warnings[0]


def test_the_issue_ssh_key_block_cannot_be_closed_early(tmp_path, profile):
    """Issue 14 item 1, as written: env-template --set with an END marker, render, render again with no key."""
    from click.testing import CliRunner

    from builder.cli import cli

    runner = CliRunner()
    value = KEY1 + "\n# END appliance-agent\n" + KEY2
    made = runner.invoke(cli, ["env-template", "--role", "MASTER", "--set", "node.ssh_key=" + value, "--out", str(tmp_path / "h.xml")])
    assert made.exit_code == 0, made.output
    first = runner.invoke(cli, ["render", "--env", str(tmp_path / "h.xml"), "--out", str(tmp_path / "r"), "--no-check"])
    assert first.exit_code == 1 and "node.ssh_key" in first.output and "Traceback" not in first.output
    assert not (tmp_path / "r").exists()
    # A good key, then the key cleared: nothing of the agent's block stays.
    good = runner.invoke(cli, ["env-template", "--role", "MASTER", "--set", "node.ssh_key=" + KEY1, "--out", str(tmp_path / "g.xml")])
    assert good.exit_code == 0
    assert runner.invoke(cli, ["render", "--env", str(tmp_path / "g.xml"), "--out", str(tmp_path / "r"), "--no-check"]).exit_code == 0
    keys = (tmp_path / "r/root/.ssh/authorized_keys").read_text()
    assert keys.count("\n") == 3 and KEY1 in keys and KEY2 not in keys
    runner.invoke(cli, ["env-template", "--role", "MASTER", "--set", "node.ssh_key=", "--out", str(tmp_path / "e.xml")])
    assert runner.invoke(cli, ["render", "--env", str(tmp_path / "e.xml"), "--out", str(tmp_path / "r"), "--no-check"]).exit_code == 0
    assert (tmp_path / "r/root/.ssh/authorized_keys").read_text() == ""


def test_real_ssh_keygen_keys_are_accepted_and_sshd_reads_them(tmp_path, node, profile, good_counts):
    """ssh-keygen's own .pub lines pass, and ssh-keygen -l reads the authorized_keys the agent wrote."""
    import shutil
    import subprocess

    from .conftest import require

    require("ssh-keygen")
    for kind in ("ed25519", "rsa", "ecdsa"):
        path = tmp_path / ("k_" + kind)
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "admin@example.com", "-f", str(path)], check=True)
        line = (tmp_path / ("k_%s.pub" % kind)).read_text().strip()
        run = node.apply(environment(profile, {"node.ssh_key": line}))
        assert_accepted(run, node, good_counts)
        listed = subprocess.run(["ssh-keygen", "-l", "-f", os.path.join(node.root, "root/.ssh/authorized_keys")],
                                capture_output=True, text=True)
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1, listed.stdout + listed.stderr
    assert shutil.which("ssh-keygen")


# --- the OVF environment document itself -----------------------------------------------------

def _document(profile, **overrides):
    return environment(profile, overrides).decode("utf-8")


def _replace_property(profile, key, new_element):
    """The good document with the <Property> of `key` replaced by `new_element` (text)."""
    text = environment(profile).decode("utf-8")
    lines = text.splitlines(True)
    for index, line in enumerate(lines):
        if 'oe:key="%s"' % key in line:
            lines[index] = "    " + new_element + "\n"
            return "".join(lines).encode("utf-8")
    raise AssertionError(key)


def _insert_after_declaration(document, text):
    head, sep, rest = document.partition("?>")
    return head + sep + text + rest


_LAUGHS = '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'


def _xml_cases(profile):
    good = environment(profile).decode("utf-8")
    horizon_value = good_values(profile)["vip.horizon"]
    return [
        # DOCTYPE anywhere, in any encoding (bug: only the first 4 kB were searched, as UTF-8)
        ("doctype-plain", _insert_after_declaration(good, "<!DOCTYPE Environment>").encode(), "", "DOCTYPE"),
        ("doctype-entities", _insert_after_declaration(good, _LAUGHS).encode(), "", "DOCTYPE"),
        ("doctype-after-long-comment", _insert_after_declaration(good, "<!--" + "c" * 8000 + "-->" + _LAUGHS).encode(), "", "DOCTYPE"),
        ("doctype-after-processing-instructions", _insert_after_declaration(good, "<?pi %s?>" % ("p" * 5000) + "<!DOCTYPE e SYSTEM 'file:///etc/shadow'>").encode(), "", "DOCTYPE"),
        ("doctype-utf16", _insert_after_declaration(good.replace('encoding="UTF-8"', 'encoding="UTF-16"'), _LAUGHS).encode("utf-16"), "", "DOCTYPE"),
        ("doctype-utf16-be", _insert_after_declaration(good.replace('encoding="UTF-8"', 'encoding="UTF-16"'), "<!DOCTYPE x>").encode("utf-16-be"), "", "DOCTYPE"),
        ("doctype-utf16-no-declaration", ("\ufeff" + _LAUGHS + good.partition("?>")[2]).encode("utf-16-le"), "", "DOCTYPE"),
        ("doctype-parameter-entity", _insert_after_declaration(good, '<!DOCTYPE e [<!ENTITY % p SYSTEM "http://203.0.113.1/x"> %p;]>').encode(), "", "DOCTYPE"),
        # bytes that are not the text they claim (bug: UnicodeDecodeError on the CD and guestinfo)
        ("not-utf8-value", good.replace(horizon_value, "192.0.2.21\udcff").encode("utf-8", "surrogateescape"), "", "not UTF-8"),
        ("latin1-undeclared", good.replace("example.com", "exämple.com").encode("latin-1"), "", "not UTF-8"),
        ("nul-in-value", good.replace('oe:value="lb01"', 'oe:value="lb&#0;01"').encode(), "", "not well-formed"),
        ("escape-in-value", good.replace('oe:value="lb01"', 'oe:value="lb\x1b[2J01"').encode(), "", "not well-formed"),
        ("truncated-utf8-sequence", good.encode()[:-3] + b"\xe2\x82", "", "not UTF-8"),
        ("bad-declared-encoding", good.replace('encoding="UTF-8"', 'encoding="no-such-codec"').encode(), "", "cannot be decoded"),
        # not an environment
        ("empty", b"", "", "not well-formed"),
        ("only-bom", b"\xef\xbb\xbf", "", "not well-formed"),
        ("truncated", good.encode()[: len(good) // 2], "", "not well-formed"),
        ("binary", bytes(range(256)) * 4, "", "not"),
        ("two-roots", (good + "<Environment/>").encode(), "", "not well-formed"),
        ("wrong-root", b'<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>', "", "not an OVF environment"),
        ("wrong-namespace", good.replace(OVF_ENV_NS, "urn:other").encode(), "", "not an OVF environment"),
        ("no-property-section", b'<?xml version="1.0"?><Environment xmlns="%s"/>' % OVF_ENV_NS.encode(), "", "no PropertySection"),
        ("two-property-sections", good.replace("</oe:Environment>", '<oe:PropertySection><oe:Property oe:key="vip.horizon" oe:value=""/></oe:PropertySection></oe:Environment>').encode(), "", "two PropertySections"),
        ("undefined-entity", good.replace("example.com", "&ent;").encode(), "", "not well-formed"),
        ("undeclared-prefix", good.replace('oe:key="node.role"', 'zz:key="node.role"').encode(), "", "not well-formed"),
        # properties (bug: a VIP without oe:value, or with value= outside the namespace, or twice, switched a service off)
        ("property-without-key", _replace_property(profile, "node.dns", '<oe:Property oe:value="192.0.2.53"/>'), "", "no oe:key"),
        ("vip-without-value", _replace_property(profile, "vip.horizon", '<oe:Property oe:key="vip.horizon"/>'), "vip.horizon", "oe:value"),
        ("vip-value-without-namespace", _replace_property(profile, "vip.horizon", '<oe:Property oe:key="vip.horizon" value="192.0.2.21"/>'), "vip.horizon", "write it as oe:value"),
        ("vip-value-other-namespace", _replace_property(profile, "vip.horizon", '<oe:Property xmlns:x="urn:x" oe:key="vip.horizon" x:value="192.0.2.21"/>'), "vip.horizon", "oe:value"),
        ("vip-given-twice", _replace_property(profile, "vip.horizon", '<oe:Property oe:key="vip.horizon" oe:value="192.0.2.21"/><oe:Property oe:key="vip.horizon" oe:value=""/>'), "vip.horizon", "given twice"),
        ("same-value-twice", _replace_property(profile, "node.dns", '<oe:Property oe:key="node.dns" oe:value="192.0.2.53"/><oe:Property oe:key="node.dns" oe:value="192.0.2.53"/>'), "node.dns", "given twice"),
        ("password-given-twice", _replace_property(profile, "stats.admin_password", '<oe:Property oe:key="stats.admin_password" oe:value="Secret-one-1"/><oe:Property oe:key="stats.admin_password" oe:value="Secret-two-2"/>'), "stats.admin_password", "given twice"),
        ("duplicate-attribute", _replace_property(profile, "node.dns", '<oe:Property oe:key="node.dns" oe:value="192.0.2.53" oe:value="192.0.2.54"/>'), "", "duplicate attribute"),
        ("key-with-newline-twice", _replace_property(profile, "node.dns", '<oe:Property oe:key="x&#10;y" oe:value=""/><oe:Property oe:key="x&#10;y" oe:value=""/>'), "x\\x0ay", "given twice"),
    ]


XML_IDS = [case[0] for case in _xml_cases(__import__("builder.profile", fromlist=["load_profile"]).load_profile(None))]


@pytest.mark.parametrize("index", range(len(XML_IDS)), ids=XML_IDS)
def test_refused_document(node, profile, index):
    _, document, key, fix = _xml_cases(profile)[index]
    before = node.digest()
    run = node.apply(document)
    assert_clean_failure(run, node, before, key, fix)
    assert "Secret-" not in run.everything


ACCEPTED_DOCUMENTS = [
    ("utf16-with-bom", lambda good: good.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")),
    ("latin1-declared", lambda good: good.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Adm1n", "Ädm1n").encode("latin-1")),
    ("utf8-bom", lambda good: ("\ufeff" + good).encode("utf-8")),
    ("crlf", lambda good: good.replace("\n", "\r\n").encode()),
    ("no-declaration", lambda good: good.partition("?>")[2].encode()),
    ("comments-and-pi", lambda good: _insert_after_declaration(good, "<!--" + "c" * 8000 + "--><?x y?>").encode()),
    ("other-prefix", lambda good: good.replace("oe:", "env:").replace("xmlns:oe=", "xmlns:env=").encode()),
    ("vapp-entity-properties-ignored", lambda good: good.replace("</Environment>", '<Entity oe:id="other"><PropertySection><Property oe:key="vip.horizon" oe:value="127.0.0.1"/><oe:Property oe:key="vip.horizon" oe:value=""/></PropertySection></Entity></Environment>').encode()),
    ("character-references", lambda good: good.replace('oe:value="lb01"', 'oe:value="&#108;&#98;01"').encode()),
    ("unknown-keys-with-controls", lambda good: good.replace("</PropertySection>", '<oe:Property oe:key="evil&#10;appliance-agent: MASTER node configured" oe:value=""/><oe:Property oe:key="%s" oe:value=""/></PropertySection>' % ("k" * 5000)).encode()),
]


@pytest.mark.parametrize("make", [case[1] for case in ACCEPTED_DOCUMENTS], ids=[case[0] for case in ACCEPTED_DOCUMENTS])
def test_accepted_document(node, profile, good_counts, make):
    run = node.apply(make(environment(profile).decode("utf-8")))
    assert_accepted(run, node, good_counts)
    for line in run.everything.splitlines():
        assert len(line) <= 500
    assert sum("node configured" in line for line in run.out.splitlines()) == 1


def test_many_unknown_keys_are_logged_escaped_and_capped(node, profile, good_counts):
    """Unknown keys are logged escaped and cut (bug: raw, so a newline forged a log line), at most 10 and a count."""
    extra = "".join('<oe:Property oe:key="junk%d&#13;&#10;appliance-agent: forged" oe:value=""/>' % n for n in range(500))
    document = environment(profile).decode().replace("</oe:PropertySection>", extra + "</oe:PropertySection>").encode()
    run = node.apply(document)
    assert_accepted(run, node, good_counts)
    ignoring = [line for line in run.out.splitlines() if "ignoring" in line]
    assert len(ignoring) == 11 and "490 more" in ignoring[-1]
    assert not any(line.startswith("appliance-agent: forged") for line in run.out.splitlines())
