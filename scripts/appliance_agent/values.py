"""Parsers for the kinds of value the property form holds.

Every parser takes the raw text from the OVF environment and returns a
parsed value, or raises ValueError with a message that says what is wrong
and what to enter instead. The form (form.py) names a kind per property;
the OVF writer maps the same kind to an OVF type and qualifiers, so the
vCenter form and the first-boot parser cannot disagree.
"""

import base64
import binascii
import collections
import ipaddress
import re
import struct

Backend = collections.namedtuple("Backend", "name host port")

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def split_list(text):
    """Split a comma (or blank) separated list, dropping empty items."""
    return [item for item in re.split(r"[,\s]+", text.strip()) if item]


def parse_role(text):
    role = text.strip().upper()
    if role not in ("MASTER", "BACKUP"):
        raise ValueError("%r is not a role; choose MASTER on one node and BACKUP on the other" % text)
    return role


def parse_hostname(text):
    """A short host name: one DNS label (the domain is a property of its own)."""
    name = text.strip()
    if not _LABEL.match(name):
        raise ValueError(
            "%r is not a host name; use letters, digits and '-' (at most 63, not starting or ending with '-'), "
            "without the domain, e.g. lb01" % text
        )
    return name.lower()


def parse_domain(text):
    name = text.strip().rstrip(".")
    if not name:
        return ""
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("%r is not a DNS domain; enter e.g. corp.example.com" % text)
    return name.lower()


def parse_host(text):
    """A host name (FQDN) or an IPv4 address."""
    value = text.strip()
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        pass
    if re.match(r"^[0-9.]+$", value):
        raise ValueError("%r is not a valid IPv4 address; enter four numbers 0-255, e.g. 192.0.2.10" % text)
    try:
        return parse_domain(value) or _raise_empty()
    except ValueError:
        raise ValueError("%r is neither an IPv4 address nor a host name; enter e.g. 192.0.2.10 or ntp.example.com" % text)


def _raise_empty():
    raise ValueError("empty")


def parse_ipv4(text):
    value = text.strip()
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("%r is not an IPv4 address; enter four numbers 0-255, e.g. 192.0.2.10" % text)


def parse_optional_ipv4(text):
    """An IPv4 address, or empty (for a VIP: the service is switched off)."""
    if not text.strip():
        return None
    return parse_ipv4(text)


def parse_interface(text):
    """An address with its prefix length, e.g. 192.0.2.11/24."""
    value = text.strip()
    if "/" not in value:
        raise ValueError("%r has no prefix length; enter address/prefix, e.g. 192.0.2.11/24" % text)
    address, prefix = value.split("/", 1)
    parse_ipv4(address)
    if not prefix.isdigit() or not 8 <= int(prefix) <= 30:
        raise ValueError("prefix length %r in %r is not usable; enter 8 to 30, e.g. /24" % (prefix, text))
    interface = ipaddress.IPv4Interface(value)
    if interface.ip in (interface.network.network_address, interface.network.broadcast_address):
        raise ValueError(
            "%s is the network or broadcast address of %s; choose a host address" % (interface.ip, interface.network)
        )
    return interface


def parse_ipv4_list(text):
    return [parse_ipv4(item) for item in split_list(text)]


def parse_host_list(text):
    return [parse_host(item) for item in split_list(text)]


def parse_networks(text):
    networks = []
    for item in split_list(text):
        try:
            networks.append(ipaddress.IPv4Network(item, strict=False))
        except ValueError:
            raise ValueError("%r is not an IPv4 network; enter networks like 192.0.2.0/24, comma separated" % item)
    return networks


def parse_vrid(text):
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= 255:
        raise ValueError(
            "%r is not a VRRP router id; enter 1 to 255, the same on both nodes and unique on the network" % text
        )
    return int(value)


def parse_password(text):
    if "\n" in text or "\r" in text:
        raise ValueError("a password cannot contain a line break; enter it on one line")
    return text


def parse_ssh_key(text):
    """One OpenSSH public key line, checked by decoding its blob."""
    value = text.strip()
    if not value:
        return ""
    fields = value.split()
    if len(fields) < 2 or fields[0] not in _SSH_KEY_TYPES:
        raise ValueError(
            "not an OpenSSH public key; paste one line like 'ssh-ed25519 AAAA... user@host' (the .pub file)"
        )
    try:
        blob = base64.b64decode(fields[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded_type = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise ValueError("the key data of the %s key is damaged; paste the whole line of the .pub file" % fields[0])
    if embedded_type != fields[0]:
        raise ValueError("the key says %s but its data is a %s key; paste the .pub file unchanged" % (fields[0], embedded_type))
    return value


def parse_backends(text, default_name="server"):
    """Comma list of `address`, `name=address`, each with an optional `:port`.

    Returns Backend tuples; unnamed servers are called <default_name>1, 2, ...
    The port is None when not given.
    """
    backends = []
    for index, item in enumerate(split_list(text), 1):
        name, sep, rest = item.partition("=")
        if not sep:
            name, rest = "%s%d" % (default_name, index), item
        if not _SERVER_NAME.match(name):
            raise ValueError(
                "server name %r is not usable; use letters, digits, '.', '_' or '-' (at most 32)" % name
            )
        host, sep, port = rest.partition(":")
        host_value = parse_host(host)
        port_value = None
        if sep:
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError("port %r of server %r is not 1-65535" % (port, name))
            port_value = int(port)
        backends.append(Backend(name, host_value, port_value))
    names = [backend.name for backend in backends]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        raise ValueError("server name %s is used twice; give each server its own name" % ", ".join(duplicates))
    return backends


def parse_selftest(text):
    value = text.strip().lower()
    if value not in ("", "report", "drill"):
        raise ValueError("%r is not a self-test mode; leave it empty (it is for build-appliance verify only)" % text)
    return value


Kind = collections.namedtuple("Kind", "parse ovf_type qualifiers example")

# ovf_type and qualifiers are what vCenter sees (reference: DSP0243 and
# VMware's vApp property types); parse is what the agent runs.
KINDS = {
    "role": Kind(parse_role, "string", 'ValueMap{"MASTER","BACKUP"}', "MASTER"),
    "hostname": Kind(parse_hostname, "string", "MinLen(1),MaxLen(63)", "lb01"),
    "domain": Kind(parse_domain, "string", "MaxLen(253)", "corp.example.com"),
    "interface": Kind(parse_interface, "string", "MinLen(9),MaxLen(18)", "192.0.2.11/24"),
    "ipv4": Kind(parse_ipv4, "string", "MinLen(7),MaxLen(15)", "192.0.2.1"),
    "optional_ipv4": Kind(parse_optional_ipv4, "string", "MaxLen(15)", "192.0.2.20"),
    "ipv4_list": Kind(parse_ipv4_list, "string", "MaxLen(255)", "192.0.2.53,198.51.100.53"),
    "host_list": Kind(parse_host_list, "string", "MaxLen(1024)", "ntp1.example.com,192.0.2.123"),
    "networks": Kind(parse_networks, "string", "MaxLen(1024)", "192.0.2.0/24,198.51.100.0/24"),
    "vrid": Kind(parse_vrid, "uint8", "MinValue(1),MaxValue(255)", "51"),
    "password": Kind(parse_password, "string", "MaxLen(128)", ""),
    "ssh_key": Kind(parse_ssh_key, "string", "MaxLen(8192)", ""),
    "backends": Kind(parse_backends, "string", "MaxLen(4096)", "cs1=198.51.100.11,cs2=198.51.100.12"),
    "selftest": Kind(parse_selftest, "string", "MaxLen(16)", ""),
}
