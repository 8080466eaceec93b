"""The appliance profile: what the appliance is and which services it balances.

The builder reads the profile from TOML, merges it over the embedded
default and bakes the result into the image as JSON; the agent reads that
JSON. Both go through `Profile.from_dict`, so a profile that builds is a
profile the agent understands.
"""

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .errors import ProfileError

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d)$")
BALANCE_ALGORITHMS = ("source", "leastconn", "roundrobin")
CHECK_METHODS = ("GET", "HEAD", "OPTIONS")


def _take(data, where, key, kind, default=None, required=False):
    """Read one typed field of a profile table, with a precise error."""
    if key not in data:
        if required:
            raise ProfileError("%s: missing %r" % (where, key))
        return default
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ProfileError("%s.%s: expected %s, got %r" % (where, key, kind.__name__, value))
    return value


def _duration(data, where, key, default):
    value = _take(data, where, key, str, default)
    if not _DURATION.match(value):
        raise ProfileError("%s.%s: %r is not a duration like 30s, 90m or 10h" % (where, key, value))
    return value


def _reject_unknown(data, where, known):
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ProfileError("%s: unknown setting %s (known: %s)" % (where, ", ".join(unknown), ", ".join(sorted(known))))


@dataclass(frozen=True)
class HealthCheck:
    """How HAProxy decides a backend server is healthy."""

    type: str = "http"  # "http" (a request over TLS or plain) or "tcp" (connect only)
    method: str = "GET"
    uri: str = "/favicon.ico"
    expect_status: int = 200
    ssl: bool = True
    interval: str = "30s"
    fall: int = 3
    rise: int = 2

    @classmethod
    def from_dict(cls, data, where):
        _reject_unknown(data, where, ("type", "method", "uri", "expect_status", "ssl", "interval", "fall", "rise"))
        check = cls(
            type=_take(data, where, "type", str, "http"),
            method=_take(data, where, "method", str, "GET").upper(),
            uri=_take(data, where, "uri", str, "/favicon.ico"),
            expect_status=_take(data, where, "expect_status", int, 200),
            ssl=_take(data, where, "ssl", bool, True),
            interval=_duration(data, where, "interval", "30s"),
            fall=_take(data, where, "fall", int, 3),
            rise=_take(data, where, "rise", int, 2),
        )
        if check.type not in ("http", "tcp"):
            raise ProfileError("%s.type: %r is not http or tcp" % (where, check.type))
        if check.method not in CHECK_METHODS:
            raise ProfileError("%s.method: %r is not one of %s" % (where, check.method, ", ".join(CHECK_METHODS)))
        if not re.match(r"^/[\x21-\x7e]*$", check.uri):
            raise ProfileError("%s.uri: %r is not an absolute path without spaces" % (where, check.uri))
        if not 100 <= check.expect_status <= 599:
            raise ProfileError("%s.expect_status: %r is not an HTTP status" % (where, check.expect_status))
        if not (1 <= check.fall <= 100 and 1 <= check.rise <= 100):
            raise ProfileError("%s: fall and rise must be 1 to 100" % where)
        return check


@dataclass(frozen=True)
class Service:
    """One load-balanced service: a VIP, its ports and its backend servers."""

    name: str
    label: str
    vip_property: str
    servers_property: str
    ports: Tuple[int, ...]
    balance: str = "source"
    persistence: str = ""  # stick-table expiry (e.g. "90m"); empty = no persistence
    redirect_http: bool = False
    idle_timeout: str = "10h"
    check: HealthCheck = field(default_factory=HealthCheck)
    description: str = ""

    @classmethod
    def from_dict(cls, name, data):
        where = "services.%s" % name
        _reject_unknown(
            data,
            where,
            (
                "label",
                "description",
                "vip_property",
                "servers_property",
                "ports",
                "balance",
                "persistence",
                "redirect_http",
                "idle_timeout",
                "check",
                "enabled",
            ),
        )
        if not _NAME.match(name):
            raise ProfileError("%s: the name must be lower-case letters, digits, '-' or '_' (at most 31)" % where)
        ports = _take(data, where, "ports", list, required=True)
        if not ports or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports):
            raise ProfileError("%s.ports: expected a list of TCP ports 1-65535, got %r" % (where, ports))
        if len(set(ports)) != len(ports):
            raise ProfileError("%s.ports: %r lists a port twice" % (where, ports))
        persistence = _take(data, where, "persistence", str, "")
        if persistence and not _DURATION.match(persistence):
            raise ProfileError("%s.persistence: %r is not a duration like 90m or 10h" % (where, persistence))
        service = cls(
            name=name,
            label=_take(data, where, "label", str, name),
            description=_take(data, where, "description", str, ""),
            vip_property=_take(data, where, "vip_property", str, "vip.%s" % name),
            servers_property=_take(data, where, "servers_property", str, "%s.servers" % name),
            ports=tuple(ports),
            balance=_take(data, where, "balance", str, "source"),
            persistence=persistence,
            redirect_http=_take(data, where, "redirect_http", bool, False),
            idle_timeout=_duration(data, where, "idle_timeout", "10h"),
            check=HealthCheck.from_dict(_take(data, where, "check", dict, {}), where + ".check"),
        )
        if service.balance not in BALANCE_ALGORITHMS:
            raise ProfileError(
                "%s.balance: %r is not one of %s" % (where, service.balance, ", ".join(BALANCE_ALGORITHMS))
            )
        for key in (service.vip_property, service.servers_property):
            if not _KEY.match(key):
                raise ProfileError("%s: %r is not a property key like vip.%s" % (where, key, name))
        if service.redirect_http and 80 in service.ports:
            raise ProfileError("%s: redirect_http needs port 80, which the service balances itself" % where)
        return service

    @property
    def backend_names(self):
        """HAProxy backend name per port; the first port's backend owns the stick table."""
        if len(self.ports) == 1:
            return {self.ports[0]: self.name}
        return dict((port, "%s-%d" % (self.name, port)) for port in self.ports)


@dataclass(frozen=True)
class Profile:
    """The frozen, validated appliance profile."""

    name: str
    version: str
    vendor: str
    description: str
    interface: str
    services: Tuple[Service, ...]
    stats_port: int = 8404
    health_port: int = 8405
    peers_port: int = 10000
    advert_interval: float = 0.5
    preempt: bool = False
    vm: Dict[str, object] = field(default_factory=dict)
    photon: Dict[str, object] = field(default_factory=dict)
    templates: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data):
        """Build and check a profile from plain data (parsed TOML or JSON)."""
        if not isinstance(data, dict):
            raise ProfileError("profile: expected a table at the top level")
        _reject_unknown(data, "profile", ("appliance", "vm", "photon", "network", "ha", "stats", "services", "templates"))
        appliance = _take(data, "profile", "appliance", dict, required=True)
        _reject_unknown(appliance, "appliance", ("name", "version", "vendor", "description"))
        network = _take(data, "profile", "network", dict, {})
        _reject_unknown(network, "network", ("interface",))
        ha = _take(data, "profile", "ha", dict, {})
        _reject_unknown(ha, "ha", ("advert_interval", "preempt", "peers_port", "health_port"))
        stats = _take(data, "profile", "stats", dict, {})
        _reject_unknown(stats, "stats", ("port",))
        services = []
        for name, table in _take(data, "profile", "services", dict, {}).items():
            if not isinstance(table, dict):
                raise ProfileError("services.%s: expected a table" % name)
            if table.get("enabled", True) is False:
                continue
            services.append(Service.from_dict(name, table))
        templates = _take(data, "profile", "templates", dict, {})
        for key, value in templates.items():
            if not isinstance(value, str):
                raise ProfileError("templates.%s: expected a file name, got %r" % (key, value))
        profile = cls(
            name=_take(appliance, "appliance", "name", str, required=True),
            version=_take(appliance, "appliance", "version", str, required=True),
            vendor=_take(appliance, "appliance", "vendor", str, ""),
            description=_take(appliance, "appliance", "description", str, ""),
            interface=_take(network, "network", "interface", str, "eth0"),
            services=tuple(services),
            stats_port=_take(stats, "stats", "port", int, 8404),
            health_port=_take(ha, "ha", "health_port", int, 8405),
            peers_port=_take(ha, "ha", "peers_port", int, 10000),
            advert_interval=_take(ha, "ha", "advert_interval", float, 0.5),
            preempt=_take(ha, "ha", "preempt", bool, False),
            vm=_take(data, "profile", "vm", dict, {}),
            photon=_take(data, "profile", "photon", dict, {}),
            templates=dict(templates),
        )
        profile._check()
        return profile

    def _check(self):
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", self.name):
            raise ProfileError("appliance.name: %r must be letters, digits, '.', '_' or '-'" % self.name)
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", self.version):
            raise ProfileError("appliance.version: %r must be letters, digits, '.', '_', '+' or '-'" % self.version)
        if not re.match(r"^[a-z][a-z0-9]{0,14}$", self.interface):
            raise ProfileError("network.interface: %r is not an interface name like eth0" % self.interface)
        if not 0.01 <= self.advert_interval <= 255:
            raise ProfileError("ha.advert_interval: %r is outside 0.01-255 seconds" % self.advert_interval)
        if not self.services:
            raise ProfileError("services: the profile balances nothing; keep or add at least one service")
        own_ports = {self.stats_port: "stats.port", self.health_port: "ha.health_port", self.peers_port: "ha.peers_port"}
        if len(own_ports) != 3:
            raise ProfileError("stats.port, ha.health_port and ha.peers_port must differ")
        names = [service.name for service in self.services]
        if len(set(names)) != len(names):
            raise ProfileError("services: a service name is used twice")
        servers = [service.servers_property for service in self.services]
        if len(set(servers)) != len(servers) or set(servers) & set(self.vip_properties()):
            raise ProfileError("services: each service needs a servers_property of its own, distinct from every VIP property")
        ports_by_vip = {}
        for service in self.services:
            wanted = set(service.ports) | ({80} if service.redirect_http else set())
            taken = ports_by_vip.setdefault(service.vip_property, set())
            clash = taken & wanted
            if clash:
                raise ProfileError(
                    "services.%s: port %s on %s is taken by another service on the same VIP property"
                    % (service.name, ", ".join(map(str, sorted(clash))), service.vip_property)
                )
            taken.update(wanted)

    def to_dict(self):
        """Plain data that `from_dict` turns back into an equal profile (baked into the image as JSON)."""
        services = {}
        for service in self.services:
            check = service.check
            services[service.name] = {
                "label": service.label,
                "description": service.description,
                "vip_property": service.vip_property,
                "servers_property": service.servers_property,
                "ports": list(service.ports),
                "balance": service.balance,
                "persistence": service.persistence,
                "redirect_http": service.redirect_http,
                "idle_timeout": service.idle_timeout,
                "check": {
                    "type": check.type,
                    "method": check.method,
                    "uri": check.uri,
                    "expect_status": check.expect_status,
                    "ssl": check.ssl,
                    "interval": check.interval,
                    "fall": check.fall,
                    "rise": check.rise,
                },
            }
        return {
            "appliance": {"name": self.name, "version": self.version, "vendor": self.vendor, "description": self.description},
            "vm": dict(self.vm),
            "photon": dict(self.photon),
            "network": {"interface": self.interface},
            "ha": {
                "advert_interval": self.advert_interval,
                "preempt": self.preempt,
                "peers_port": self.peers_port,
                "health_port": self.health_port,
            },
            "stats": {"port": self.stats_port},
            "services": services,
            "templates": dict(self.templates),
        }

    def vip_properties(self):
        """VIP property keys of the services, each once, in service order."""
        keys = []  # type: List[str]
        for service in self.services:
            if service.vip_property not in keys:
                keys.append(service.vip_property)
        return keys

    def service(self, name):
        # type: (str) -> Optional[Service]
        for service in self.services:
            if service.name == name:
                return service
        return None
