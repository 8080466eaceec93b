"""Validate the raw OVF properties into frozen settings, value by value and as a whole.

`validate(properties, profile)` either returns Settings or raises
ValidationError listing every problem found, each naming the property key
and the fix. Nothing here touches the system.
"""

import ipaddress
from dataclasses import dataclass
from typing import Optional, Tuple

from .errors import ValidationError
from .form import form_for
from .profile import Profile, Service
from .values import Backend, Route, SyslogServer

PEER_NAMES = {"MASTER": "lb-master", "BACKUP": "lb-backup"}
PRIORITIES = {"MASTER": 150, "BACKUP": 100}


@dataclass(frozen=True)
class ServiceSettings:
    """An enabled service: its profile definition, VIP and backend servers."""

    service: Service
    vip: ipaddress.IPv4Address
    backends: Tuple[Backend, ...]

    def server_port(self, backend, port):
        """The port a backend server is reached on for frontend `port`."""
        return backend.port if backend.port is not None else port


@dataclass(frozen=True)
class Settings:
    """Everything the renderer needs, validated. Secrets are kept only in memory."""

    profile: Profile
    role: str
    hostname: str
    domain: str
    address: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address
    dns: Tuple[ipaddress.IPv4Address, ...]
    ntp: Tuple[str, ...]
    root_password: str
    ssh_key: str
    peer_ip: ipaddress.IPv4Address
    vrid: int
    management_vip: Optional[ipaddress.IPv4Address]
    services: Tuple[ServiceSettings, ...]
    disabled_services: Tuple[str, ...]
    stats_admin_password: str
    stats_readonly_password: str
    stats_networks: Tuple[ipaddress.IPv4Network, ...]
    # Operations (issue 16); defaults keep older callers working.
    stats_tls_bundle: str = ""
    syslog_servers: Tuple[SyslogServer, ...] = ()
    routes: Tuple[Route, ...] = ()

    @property
    def fqdn(self):
        return "%s.%s" % (self.hostname, self.domain) if self.domain else self.hostname

    @property
    def node_ip(self):
        return self.address.ip

    @property
    def master_ip(self):
        return self.node_ip if self.role == "MASTER" else self.peer_ip

    @property
    def backup_ip(self):
        return self.peer_ip if self.role == "MASTER" else self.node_ip

    @property
    def local_peer(self):
        """HAProxy peer name: from the role, so both nodes agree without knowing each other's host name."""
        return PEER_NAMES[self.role]

    @property
    def priority(self):
        return PRIORITIES[self.role]

    @property
    def vips(self):
        """All VIPs keepalived moves, management first, each once."""
        vips = [self.management_vip] if self.management_vip else []
        for service in self.services:
            if service.vip not in vips:
                vips.append(service.vip)
        return vips

    @property
    def stats_url(self):
        host = self.management_vip or self.node_ip
        return "https://%s:%d/stats" % (host, self.profile.stats_port)

    @property
    def tls_names(self):
        """What the statistics page's certificate must name: addresses it is served on, then host names."""
        addresses = [str(address) for address in ([self.management_vip] if self.management_vip else []) + [self.node_ip]]
        names = [self.fqdn] + ([self.hostname] if self.domain else [])
        return tuple(addresses), tuple(names)


def validate(properties, profile):
    """Parse every property of the form, then check the set as a whole."""
    form = form_for(profile)
    problems = []
    values = {}
    for prop in form:
        raw = properties.get(prop.key)
        if raw is None:
            raw = prop.default
        try:
            values[prop.key] = prop.parse(raw)
        except ValueError as exc:
            problems.append((prop.key, str(exc)))
    problems.extend(_check_together(values, profile))
    if problems:
        raise ValidationError(problems)
    return _settings(values, profile)


def _check_together(values, profile):
    """Cross-property rules; each runs only when the values it needs parsed."""
    problems = []
    address = values.get("node.ip")
    peer = values.get("ha.peer_ip")
    gateway = values.get("node.gateway")
    if address is not None:
        problems.extend(_subnet_edges(values, address.network))
    if address is not None and peer is not None:
        if peer in (address.network.network_address, address.network.broadcast_address):
            pass  # said by _subnet_edges
        elif peer == address.ip:
            problems.append(("ha.peer_ip", "%s is this node's own address (node.ip); enter the other node's address" % peer))
        elif peer not in address.network:
            problems.append((
                "ha.peer_ip",
                "%s is outside this node's subnet %s (node.ip); both nodes must share one subnet" % (peer, address.network),
            ))
    if address is not None and gateway is not None:
        if gateway in (address.network.network_address, address.network.broadcast_address):
            pass  # said by _subnet_edges
        elif gateway not in address.network:
            problems.append(("node.gateway", "%s is outside this node's subnet %s; enter the router of that subnet" % (gateway, address.network)))
        elif gateway == address.ip:
            problems.append(("node.gateway", "%s is this node's own address; enter the subnet's router" % gateway))
        elif gateway == peer:
            problems.append(("node.gateway", "%s is the peer node's address; enter the subnet's router" % gateway))

    vip_keys = ["vip.management"] + profile.vip_properties()
    taken = {}
    if address is not None:
        taken[address.ip] = "node.ip"
    if peer is not None:
        taken.setdefault(peer, "ha.peer_ip")
    if gateway is not None:
        taken.setdefault(gateway, "node.gateway")
    for key in vip_keys:
        vip = values.get(key)
        if vip is None:
            continue
        if address is not None and (vip not in address.network or vip in (address.network.network_address, address.network.broadcast_address)):
            problems.append((key, "%s is not a host address of the nodes' subnet %s; VIPs must be in that subnet" % (vip, address.network)))
        elif vip in taken:
            problems.append((key, "%s is already used by %s; each VIP needs an address of its own" % (vip, taken[vip])))
        else:
            taken[vip] = key

    enabled = 0
    for service in profile.services:
        vip = values.get(service.vip_property)
        backends = values.get(service.servers_property)
        if vip is None:
            continue
        enabled += 1
        if backends is None:
            continue
        if not backends:
            problems.append((
                service.servers_property,
                "%s is set, so %s needs at least one server; enter e.g. %s1=198.51.100.11 (or clear %s to switch the service off)"
                % (service.vip_property, service.label, service.name, service.vip_property),
            ))
        elif len(service.ports) > 1:
            with_port = [b.name for b in backends if b.port is not None]
            if with_port:
                problems.append((
                    service.servers_property,
                    "server %s has a :port, but %s uses ports %s on every server; remove the :port"
                    % (with_port[0], service.label, ", ".join(map(str, service.ports))),
                ))
    problems.extend(_check_routes(values, taken))
    all_vips_parsed = all(key in values for key in profile.vip_properties())
    if enabled == 0 and all_vips_parsed:
        problems.append((
            profile.vip_properties()[0],
            "no service is switched on; set at least one of %s" % ", ".join(profile.vip_properties()),
        ))
    own = dict((ip, key) for ip, key in taken.items() if key != "node.gateway")
    problems.extend(_backends_on_own_addresses(values, profile, own))
    return problems


def _check_routes(values, taken):
    """node.routes: each gateway a host of the node's subnet (not a node or a VIP), no route into that subnet."""
    problems = []
    address = values.get("node.ip")
    routes = values.get("node.routes")
    if address is None or not routes:
        return problems
    subnet = address.network
    for route in routes:
        if route.network.overlaps(subnet):
            problems.append(("node.routes", "%s overlaps this node's own subnet %s; route only networks outside it" % (route.network, subnet)))
        elif route.gateway not in subnet or route.gateway in (subnet.network_address, subnet.broadcast_address):
            problems.append(("node.routes", "gateway %s of %s is not a host of this node's subnet %s; enter a router on that subnet" % (route.gateway, route.network, subnet)))
        elif route.gateway in taken and taken[route.gateway] != "node.gateway":
            problems.append(("node.routes", "gateway %s of %s is %s; enter the router that leads to %s" % (route.gateway, route.network, taken[route.gateway], route.network)))
    return problems


def _settings(values, profile):
    address = values["node.ip"]
    services = []
    disabled = []
    for service in profile.services:
        vip = values[service.vip_property]
        if vip is None:
            disabled.append(service.name)
        else:
            services.append(ServiceSettings(service, vip, tuple(values[service.servers_property])))
    return Settings(
        profile=profile,
        role=values["node.role"],
        hostname=values["node.hostname"],
        domain=values["node.domain"],
        address=address,
        gateway=values["node.gateway"],
        dns=tuple(values["node.dns"]),
        ntp=tuple(values["node.ntp"]),
        root_password=values["node.root_password"],
        ssh_key=values["node.ssh_key"],
        peer_ip=values["ha.peer_ip"],
        vrid=values["ha.vrid"],
        management_vip=values["vip.management"],
        services=tuple(services),
        disabled_services=tuple(disabled),
        stats_admin_password=values["stats.admin_password"],
        stats_readonly_password=values["stats.readonly_password"],
        stats_networks=tuple(values["stats.allowed_networks"]) or (address.network,),
        stats_tls_bundle=values["stats.tls_certificate"],
        syslog_servers=tuple(values["log.syslog_server"]),
        routes=tuple(values["node.routes"]),
    )


def _subnet_edges(values, network):
    """Gateway, peer and DNS servers cannot be the subnet's network or broadcast address."""
    problems = []
    edges = {network.network_address: "network", network.broadcast_address: "broadcast"}
    for key in ("node.gateway", "ha.peer_ip"):
        value = values.get(key)
        if value in edges:
            problems.append((key, "%s is the %s address of %s; enter a host address of that subnet" % (value, edges[value], network)))
    for server in values.get("node.dns") or ():
        if server in edges:
            problems.append(("node.dns", "%s is the %s address of %s (node.ip), not a DNS server; enter the servers' own addresses" % (server, edges[server], network)))
            break
    return problems


def _backends_on_own_addresses(values, profile, taken):
    """A backend server at one of the pair's own addresses would send clients back to the balancer."""
    problems = []
    for service in profile.services:
        for backend in values.get(service.servers_property) or ():
            try:
                host = ipaddress.IPv4Address(backend.host)
            except ValueError:
                continue  # a host name: resolved by HAProxy, not known here
            if host in taken:
                problems.append((
                    service.servers_property,
                    "server %s is %s, the address of %s on this appliance; enter the address of a real %s server"
                    % (backend.name, host, taken[host], service.label),
                ))
                break
    return problems


def warnings(settings):
    """(key, message) for accepted values that deserve a second look."""
    found = []
    for network in settings.stats_networks:
        if network.prefixlen == 0:
            found.append((
                "stats.allowed_networks",
                "%s lets every address open the statistics page (admin can drain servers); "
                "enter the management networks instead" % network,
            ))
    return found
