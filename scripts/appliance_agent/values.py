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


def split_list(text):
    """Split a comma separated list, dropping empty items.

    Blanks around an item are dropped; a blank inside one is an error, so that
    "cs 1=198.51.100.11" never becomes two servers named after its words.
    """
    items = [item.strip() for item in text.split(",")]
    for item in items:
        if re.search(r"\s", item):
            raise ValueError("%r contains a blank; separate the entries with commas, e.g. a,b" % item)
    return [item for item in items if item]


def is_ascii_number(text):
    """Digits 0-9 only: str.isdigit() also takes '²' or '５', which int() then rejects or reads."""
    return re.fullmatch(r"[0-9]{1,9}", text) is not None


def check_unicast(address, text):
    """Refuse addresses no host can use (loopback, multicast, 0.0.0.0, 240/4, broadcast)."""
    for test, what in (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved (240.0.0.0/4) or broadcast address"),
    ):
        if test:
            raise ValueError("%s is %s; enter a host address of your network, e.g. 192.0.2.10" % (text.strip(), what))
    return address


def parse_role(text):
    role = text.strip().upper()
    if role not in ("MASTER", "BACKUP"):
        raise ValueError("%r is not a role; choose MASTER on one node and BACKUP on the other" % text)
    return role


def parse_hostname(text):
    """A short host name: one DNS label (the domain is a property of its own)."""
    name = text.strip()
    if not _LABEL.fullmatch(name):
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
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("%r is not a DNS domain; enter e.g. corp.example.com" % text)
    return name.lower()


def parse_host(text):
    """A host name (FQDN) or an IPv4 address."""
    value = text.strip()
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        address = None
    if address is not None:
        return str(check_unicast(address, value))
    if re.fullmatch(r"[0-9.]+", value):
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
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("%r is not an IPv4 address; enter four numbers 0-255, e.g. 192.0.2.10" % text)
    return check_unicast(address, value)


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
    if not is_ascii_number(prefix) or not 8 <= int(prefix) <= 30:
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
    if not is_ascii_number(value) or not 1 <= int(value) <= 255:
        raise ValueError(
            "%r is not a VRRP router id; enter 1 to 255, the same on both nodes and unique on the network" % text
        )
    return int(value)


def parse_password(text):
    if "\n" in text or "\r" in text:
        raise ValueError("a password cannot contain a line break; enter it on one line")
    if len(text.encode("utf-8")) > 511:
        # libxcrypt's crypt(3) (CRYPT_MAX_PASSPHRASE_SIZE) refuses longer passphrases: no login would work.
        raise ValueError("is longer than 511 bytes in UTF-8; use fewer non-ASCII characters")
    return text


# Fields of the key blob after its type string (RFC 4253 6.6, RFC 5656 3.1, OpenSSH PROTOCOL.u2f).
_SSH_KEY_FIELDS = {
    "ssh-ed25519": 1,
    "ssh-rsa": 2,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "sk-ssh-ed25519@openssh.com": 2,
    "sk-ecdsa-sha2-nistp256@openssh.com": 3,
}
_SSH_PASTE = "paste one line like 'ssh-ed25519 AAAA... user@host' (the .pub file)"


def _ssh_strings(blob):
    """Split an SSH wire-format blob into its length-prefixed strings; ValueError if it is not one."""
    strings = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated")
        (length,) = struct.unpack_from(">I", blob, offset)
        offset += 4
        if offset + length > len(blob):
            raise ValueError("truncated")
        strings.append(blob[offset : offset + length])
        offset += length
    return strings


def parse_ssh_key(text):
    """Exactly one OpenSSH public key: type, key data, optional comment, on one line.

    No options (command=, from=...): an options field would come first and is
    not a key type. The key data must decode, name the same type, and hold the
    fields of that type, so a bare type header is no key.
    """
    value = text.strip()
    if not value:
        return ""
    fields = value.split(None, 2)
    if fields[0] not in _SSH_KEY_FIELDS:
        if any(fields[0].startswith(prefix) for prefix in ("command=", "from=", "no-", "environment=", "restrict", "permit")):
            raise ValueError("has authorized_keys options before the key; remove them and %s" % _SSH_PASTE)
        raise ValueError("not an OpenSSH public key (%s types); %s" % (", ".join(sorted(_SSH_KEY_FIELDS)), _SSH_PASTE))
    if len(fields) < 2:
        raise ValueError("the %s key has no key data; %s" % (fields[0], _SSH_PASTE))
    try:
        blob = base64.b64decode(fields[1], validate=True)
        strings = _ssh_strings(blob)
        embedded_type = strings[0].decode("ascii") if strings else ""
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("the key data of the %s key is damaged; paste the whole line of the .pub file" % fields[0])
    if embedded_type != fields[0]:
        raise ValueError("the key says %s but its data is a %r key; paste the .pub file unchanged" % (fields[0], embedded_type))
    material = strings[1:]
    if len(material) != _SSH_KEY_FIELDS[fields[0]] or not all(material):
        raise ValueError("the %s key has no complete key material; paste the whole line of the .pub file" % fields[0])
    curve = re.search(r"nistp[0-9]+", fields[0])
    if curve and material[0] != curve.group(0).encode("ascii"):
        raise ValueError("the %s key names another curve; paste the .pub file unchanged" % fields[0])
    if fields[0].endswith("ed25519") and len(material[0]) != 32:
        raise ValueError("the %s key is %d bytes, not 32; paste the whole line of the .pub file" % (fields[0], len(material[0])))
    return " ".join(fields)


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
        if not _SERVER_NAME.fullmatch(name):
            raise ValueError(
                "server name %r is not usable; use letters, digits, '.', '_' or '-' (at most 32)" % name
            )
        host, sep, port = rest.partition(":")
        host_value = parse_host(host)
        port_value = None
        if sep:
            if not is_ascii_number(port) or not 1 <= int(port) <= 65535:
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


# --- Operations (issue 16): syslog servers, static routes, the stats page's certificate ---

SyslogServer = collections.namedtuple("SyslogServer", "address port")
Route = collections.namedtuple("Route", "network gateway")

MAX_SYSLOG_SERVERS = 2
MAX_ROUTES = 16
SYSLOG_PORT = 514
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)\r?\n-----END \1-----", re.S)
_PRIVATE_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")


def parse_syslog_servers(text):
    """Comma list of up to two `address[:port]` (UDP, default 514).

    IPv4 addresses only: HAProxy resolves a log server's name once, when it
    starts, and refuses to start when it cannot (DNS is often not up at boot).
    """
    servers = []
    for item in split_list(text):
        host, sep, port = item.partition(":")
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("%r is not an IPv4 address; enter address[:port], e.g. 192.0.2.50 or 192.0.2.50:1514" % item)
        if sep and (not port.isdigit() or not 1 <= int(port) <= 65535):
            raise ValueError("port %r of syslog server %s is not 1-65535; enter address[:port], e.g. 192.0.2.50:514" % (port, host))
        if address.is_loopback or address.is_multicast or address.is_unspecified or str(address) == "255.255.255.255":
            raise ValueError("%s cannot be a syslog server; enter the address of your syslog/SIEM server" % address)
        servers.append(SyslogServer(address, int(port) if sep else SYSLOG_PORT))
    if len(servers) > MAX_SYSLOG_SERVERS:
        raise ValueError("lists %d servers; enter at most %d, comma separated" % (len(servers), MAX_SYSLOG_SERVERS))
    if len(set(servers)) != len(servers):
        raise ValueError("lists the same server twice; enter each syslog server once")
    return servers


def parse_routes(text):
    """Comma list of `network/prefix via gateway`, at most 16."""
    routes = []
    for item in [part.strip() for part in text.split(",") if part.strip()]:
        words = item.split()
        if len(words) != 3 or words[1].lower() != "via":
            raise ValueError("%r is not a route; enter network/prefix via gateway, e.g. 198.51.100.0/24 via 192.0.2.254" % item)
        try:
            network = ipaddress.IPv4Network(words[0], strict=False)
        except ValueError:
            raise ValueError("%r in route %r is not an IPv4 network; enter e.g. 198.51.100.0/24" % (words[0], item))
        if "/" not in words[0]:
            raise ValueError("route %r has no prefix length; enter network/prefix, e.g. %s/24" % (item, words[0]))
        if str(network) != words[0]:
            raise ValueError("%s in route %r has host bits set; enter the network address %s" % (words[0], item, network))
        if network.prefixlen == 0:
            raise ValueError("route %r is a default route; the default route is node.gateway" % item)
        gateway = parse_ipv4(words[2])
        routes.append(Route(network, gateway))
    if len(routes) > MAX_ROUTES:
        raise ValueError("lists %d routes; enter at most %d" % (len(routes), MAX_ROUTES))
    networks = [route.network for route in routes]
    twice = sorted(set(str(n) for n in networks if networks.count(n) > 1))
    if twice:
        raise ValueError("network %s is routed twice; give each network one gateway" % ", ".join(twice))
    return routes


def parse_pem_bundle(text):
    """Base64 of a PEM bundle: the certificate, its chain, and one unencrypted private key.

    Returns the PEM text normalised (certificates in the given order, then the
    key), or "" when empty. Only the structure is checked here; whether the
    certificate parses, matches the key, is current and names the node is
    checked with openssl when the node is configured (tls.py).
    """
    value = "".join(text.split())
    if not value:
        return ""
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("is not base64 of a PEM file; enter the output of: base64 -w0 bundle.pem")
    blocks = _PEM_BLOCK.findall(decoded)
    certificates = [body for label, body in blocks if label == "CERTIFICATE"]
    keys = [(label, body) for label, body in blocks if label in _PRIVATE_KEY_LABELS]
    if any(label == "ENCRYPTED PRIVATE KEY" for label, _ in blocks) or "Proc-Type: 4,ENCRYPTED" in decoded:
        raise ValueError("holds an encrypted private key; export it without a passphrase (openssl pkey -in key.pem)")
    others = sorted(set(label for label, _ in blocks if label != "CERTIFICATE" and label not in _PRIVATE_KEY_LABELS))
    if others:
        raise ValueError("holds a %s block; put only the certificates and the private key in the bundle" % others[0])
    if not certificates:
        raise ValueError("holds no certificate; put the certificate (then its chain) and the private key in one PEM file")
    if len(keys) != 1:
        raise ValueError("holds %d private keys; put exactly one, the certificate's, in the bundle" % len(keys))
    pem = ["-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % body.replace("\r", "") for body in certificates]
    label, body = keys[0]
    pem.append("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, body.replace("\r", ""), label))
    return "".join(pem)


KINDS.update({
    "syslog_servers": Kind(parse_syslog_servers, "string", "MaxLen(64)", "192.0.2.50,192.0.2.51:1514"),
    "routes": Kind(parse_routes, "string", "MaxLen(1024)", "198.51.100.0/24 via 192.0.2.254"),
    "pem_bundle": Kind(parse_pem_bundle, "string", "MaxLen(65536)", ""),
})
