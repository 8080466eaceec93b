import ipaddress

import pytest

from appliance_agent import values


@pytest.mark.parametrize("text", ["192.0.2.11/24", " 10.1.2.3/8 ", "198.51.100.5/30"])
def test_interface_accepts_host_addresses(text):
    assert isinstance(values.parse_interface(text), ipaddress.IPv4Interface)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("192.0.2.11", "no prefix length"),
        ("192.0.2.300/24", "not an IPv4 address"),
        ("192.0.2.11/33", "not usable"),
        ("192.0.2.11/31", "not usable"),
        ("192.0.2.0/24", "network or broadcast"),
        ("192.0.2.255/24", "network or broadcast"),
        ("192.0.2.11/abc", "not usable"),
    ],
)
def test_interface_rejects_with_the_fix(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        values.parse_interface(text)


def test_backends_names_ports_and_defaults():
    parsed = values.parse_backends("cs1=198.51.100.11, 198.51.100.12:8443,edge=uag.example.com", "horizon")
    assert parsed == [
        values.Backend("cs1", "198.51.100.11", None),
        values.Backend("horizon2", "198.51.100.12", 8443),
        values.Backend("edge", "uag.example.com", None),
    ]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a=198.51.100.1,a=198.51.100.2", "used twice"),
        ("198.51.100.1:0", "not 1-65535"),
        ("198.51.100.1:http", "not 1-65535"),
        ("b@d=198.51.100.1", "not usable"),
        ("198.51.100.300", "not a valid IPv4"),
        ("-bad-.example.com", "neither an IPv4"),
    ],
)
def test_backends_reject(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        values.parse_backends(text)


@pytest.mark.parametrize("text", ["0", "256", "300", "-1", "abc", ""])
def test_vrid_range(text):
    with pytest.raises(ValueError, match="1 to 255"):
        values.parse_vrid(text)


def test_vrid_bounds():
    assert values.parse_vrid("1") == 1 and values.parse_vrid("255") == 255


@pytest.mark.parametrize("role", ["MASTER", "backup", " Master "])
def test_role(role):
    assert values.parse_role(role) in ("MASTER", "BACKUP")


def test_role_rejects_unknown():
    with pytest.raises(ValueError, match="MASTER on one node and BACKUP"):
        values.parse_role("PRIMARY")


def test_ssh_key_checks_embedded_type():
    import base64
    import struct

    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + b"\x01" * 32
    good = "ssh-ed25519 %s admin@example.com" % base64.b64encode(blob).decode()
    assert values.parse_ssh_key(good) == good
    with pytest.raises(ValueError, match="says ssh-rsa"):
        values.parse_ssh_key(good.replace("ssh-ed25519", "ssh-rsa", 1))
    with pytest.raises(ValueError, match="damaged"):
        values.parse_ssh_key("ssh-ed25519 AAAA!!!")
    with pytest.raises(ValueError, match="OpenSSH public key"):
        values.parse_ssh_key("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_hostname_and_domain():
    assert values.parse_hostname("LB01") == "lb01"
    assert values.parse_domain("Corp.Example.com.") == "corp.example.com"
    for bad in ("lb01.example.com", "-lb", "a" * 64, "lb_01"):
        with pytest.raises(ValueError):
            values.parse_hostname(bad)


def test_password_no_line_breaks():
    with pytest.raises(ValueError, match="line break"):
        values.parse_password("a\nb")


def test_networks_normalise():
    assert values.parse_networks("192.0.2.7/24, 203.0.113.0/25") == [
        ipaddress.IPv4Network("192.0.2.0/24"),
        ipaddress.IPv4Network("203.0.113.0/25"),
    ]
    with pytest.raises(ValueError, match="not an IPv4 network"):
        values.parse_networks("192.0.2.0/33")
