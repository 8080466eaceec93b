"""The property form: the one definition behind the vCenter form and the agent.

`form_for(profile)` lists every property the admin fills in when deploying
the OVA: key, kind (values.KINDS gives its parser, OVF type and qualifiers),
label, description, category, default and whether it is a password. The OVF
writer emits the ProductSection from this list and the agent parses the OVF
environment against the same list, so the two cannot drift apart.
"""

from dataclasses import dataclass
from typing import List

from . import limits
from .values import KINDS

CATEGORY_NODE = "1. This node"
CATEGORY_HA = "2. High availability"
CATEGORY_VIPS = "3. Virtual IP addresses"
CATEGORY_BACKENDS = "4. Backend servers"
CATEGORY_STATS = "5. Statistics page"
CATEGORY_OPERATIONS = "6. Operations"
CATEGORIES = (CATEGORY_NODE, CATEGORY_HA, CATEGORY_VIPS, CATEGORY_BACKENDS, CATEGORY_STATS, CATEGORY_OPERATIONS)


@dataclass(frozen=True)
class ApplianceProperty:
    """One field of the vCenter form."""

    key: str
    kind: str
    label: str
    description: str
    category: str
    default: str = ""
    required: bool = False
    password: bool = False
    min_length: int = 0
    service: str = ""  # the profile service a vip/servers property belongs to
    hidden: bool = False  # userConfigurable false: in the OVF, not on vCenter's form

    def parse(self, text):
        """Parse a value of this property (raises ValueError with the fix).

        The checks every property shares run first (no control characters,
        the form's MaxLen), so no parser ever sees a line break or a value
        longer than vCenter would have let through; messages are cut short
        and never show a password.
        """
        try:
            limits.check_text(text, self.qualifiers)
            value = self._parse(text)
            if isinstance(value, int):
                limits.check_number(value, self.qualifiers)
            return value
        except ValueError as exc:
            raise ValueError(limits.safe_message(str(exc), text, self.password))

    def _parse(self, text):
        if not text.strip() and not self.password:
            if self.required:
                raise ValueError("is required; %s" % _hint(self))
        if self.password and text and len(text) < self.min_length:
            raise ValueError("is too short; use at least %d characters" % self.min_length)
        if self.password and not text and self.required:
            raise ValueError("is required; set a password of at least %d characters" % self.min_length)
        if self.kind == "backends":
            return KINDS[self.kind].parse(text, self.service or "server")
        return KINDS[self.kind].parse(text)

    @property
    def ovf_type(self):
        return KINDS[self.kind].ovf_type

    @property
    def qualifiers(self):
        """OVF qualifiers (DSP0243 ProductSection): what vCenter checks in the form."""
        qualifiers = KINDS[self.kind].qualifiers
        # An optional password must accept an empty value in vCenter; the agent checks its length.
        if self.password and self.min_length and self.required:
            qualifiers = "MinLen(%d),%s" % (self.min_length, qualifiers)
        return qualifiers

    @property
    def example(self):
        return KINDS[self.kind].example

    def to_dict(self):
        """What `build-appliance properties --json` prints."""
        return {
            "key": self.key,
            "category": self.category,
            "label": self.label,
            "description": self.description,
            "type": self.ovf_type,
            "qualifiers": self.qualifiers,
            "kind": self.kind,
            "default": self.default,
            "required": self.required,
            "password": self.password,
            "hidden": self.hidden,
        }


def _hint(prop):
    example = KINDS[prop.kind].example
    return "enter e.g. %s" % example if example else "enter a value"


def base_form():
    """The properties every appliance has, whatever services it balances."""
    return [
        ApplianceProperty(
            "node.role", "role", "Node role",
            "MASTER on the first node, BACKUP on the second. Both nodes start as VRRP backups; "
            "the MASTER has the higher priority and takes the VIPs when both are healthy.",
            CATEGORY_NODE, default="MASTER", required=True,
        ),
        ApplianceProperty(
            "node.hostname", "hostname", "Host name",
            "Short host name of this node, without the domain (e.g. lb01).",
            CATEGORY_NODE, required=True,
        ),
        ApplianceProperty(
            "node.ip", "interface", "IP address / prefix",
            "Static IPv4 address of this node with its prefix length, e.g. 192.0.2.11/24.",
            CATEGORY_NODE, required=True,
        ),
        ApplianceProperty(
            "node.gateway", "ipv4", "Default gateway",
            "IPv4 default gateway, inside the node's subnet.",
            CATEGORY_NODE, required=True,
        ),
        ApplianceProperty(
            "node.dns", "ipv4_list", "DNS servers",
            "Comma-separated IPv4 addresses of DNS servers.",
            CATEGORY_NODE,
        ),
        ApplianceProperty(
            "node.domain", "domain", "DNS domain",
            "DNS domain of this node, also used as the search domain (e.g. corp.example.com).",
            CATEGORY_NODE,
        ),
        ApplianceProperty(
            "node.ntp", "host_list", "NTP servers",
            "Comma-separated NTP server names or addresses. Empty: the DHCP-less default of systemd-timesyncd.",
            CATEGORY_NODE,
        ),
        ApplianceProperty(
            "node.root_password", "password", "Root password",
            "Password of the root account (console, and SSH with a key only). Stored as a SHA-512 hash. "
            "Empty: keep the current one.",
            CATEGORY_NODE, password=True, min_length=8,
        ),
        ApplianceProperty(
            "node.ssh_key", "ssh_key", "Root SSH public key",
            "One OpenSSH public key line (ssh-ed25519 AAAA... user@host) allowed to log in as root over SSH.",
            CATEGORY_NODE,
        ),
        ApplianceProperty(
            "ha.peer_ip", "ipv4", "Peer node IP address",
            "IPv4 address of the other node of the pair, in this node's subnet. VRRP and stick-table "
            "sync are accepted from this address only.",
            CATEGORY_HA, required=True,
        ),
        ApplianceProperty(
            "ha.vrid", "vrid", "VRRP virtual router id",
            "1-255, the same on both nodes and unique on this network segment.",
            CATEGORY_HA, default="51", required=True,
        ),
        ApplianceProperty(
            "vip.management", "optional_ipv4", "Management VIP",
            "Virtual IP that follows the active node and serves the statistics page. Empty: the "
            "statistics page is served on each node's own address only.",
            CATEGORY_VIPS,
        ),
    ]


def service_form(profile):
    """VIP and backend properties of the profile's services."""
    properties = []
    seen = set()
    for service in profile.services:
        if service.vip_property not in seen:
            seen.add(service.vip_property)
            sharing = [s for s in profile.services if s.vip_property == service.vip_property]
            ports = sorted(set(p for s in sharing for p in s.ports))
            properties.append(
                ApplianceProperty(
                    service.vip_property, "optional_ipv4", "%s VIP" % service.label,
                    "Virtual IP for %s (TCP %s), in the nodes' subnet. Empty: the service is switched off."
                    % (service.label, ", ".join(map(str, ports))),
                    CATEGORY_VIPS, service=service.name,
                )
            )
    for service in profile.services:
        ports = ", ".join(map(str, service.ports))
        port_note = (
            "optional :port (default %s)" % ports if len(service.ports) == 1
            else "no :port (each server is reached on %s)" % ports
        )
        properties.append(
            ApplianceProperty(
                service.servers_property, "backends", "%s" % service.label,
                "%s servers, comma-separated: address or name=address, %s. Example: %s1=198.51.100.11,%s2=198.51.100.12"
                % (service.label, port_note, service.name, service.name),
                CATEGORY_BACKENDS, service=service.name,
            )
        )
    return properties


def stats_form():
    return [
        ApplianceProperty(
            "stats.admin_password", "password", "Statistics admin password",
            "Password of user 'admin' on the HAProxy statistics page (can drain and disable servers). "
            "Stored as a SHA-512 hash.",
            CATEGORY_STATS, required=True, password=True, min_length=8,
        ),
        ApplianceProperty(
            "stats.readonly_password", "password", "Statistics read-only password",
            "Password of user 'stats' (read-only). Empty: no read-only user.",
            CATEGORY_STATS, password=True, min_length=8,
        ),
        ApplianceProperty(
            "stats.allowed_networks", "networks", "Networks allowed to the statistics page",
            "Comma-separated IPv4 networks that may open the statistics page, e.g. 192.0.2.0/24. "
            "Empty: the nodes' own subnet only.",
            CATEGORY_STATS,
        ),
    ]


def operations_form():
    """Day-2 options, all optional (issue 16): one category, so a first deployment can skip it."""
    return [
        ApplianceProperty(
            "stats.tls_certificate", "pem_bundle", "Statistics page certificate (base64 PEM)",
            "The statistics page is served over HTTPS only. Empty: a self-signed certificate made on the node "
            "(its fingerprint is on the console). Or base64 of one PEM file holding the certificate, its chain "
            "and the unencrypted private key (base64 -w0 bundle.pem); it must name the management VIP.",
            CATEGORY_OPERATIONS, password=True,
        ),
        ApplianceProperty(
            "log.syslog_server", "syslog_servers", "Remote syslog servers",
            "Up to two IPv4 address[:port] (UDP, default 514), comma-separated. HAProxy's traffic logs, VRRP "
            "state changes and configuration results are sent there too. Empty: logs stay in the journal.",
            CATEGORY_OPERATIONS,
        ),
        ApplianceProperty(
            "node.routes", "routes", "Static routes",
            "Comma-separated 'network/prefix via gateway' (at most 16), e.g. 198.51.100.0/24 via 192.0.2.254, "
            "for networks reached through a router other than the default gateway. Gateways must be in the "
            "node's subnet.",
            CATEGORY_OPERATIONS,
        ),
    ]


def verification_form():
    """Hidden properties: set only by `build-appliance verify`, never shown to the admin."""
    return [
        ApplianceProperty(
            "appliance.selftest", "selftest", "Self-test report",
            "Set by build-appliance verify only (hidden from the vCenter form): 'report' prints this node's "
            "configuration, units and VIPs on the serial port after boot; 'drill' also accepts the verify "
            "drills (stop HAProxy, reboot) on the serial port. Empty (the default): nothing runs.",
            CATEGORY_STATS, hidden=True,
        ),
    ]


def form_for(profile):
    # type: (object) -> List[ApplianceProperty]
    """The whole form of an appliance built from `profile`, in display order."""
    properties = base_form() + service_form(profile) + stats_form() + operations_form() + verification_form()
    order = dict((category, index) for index, category in enumerate(CATEGORIES))
    # Stable sort: categories in their fixed order, properties in definition order within each.
    return sorted(properties, key=lambda prop: order[prop.category])
