"""The appliance profile: what the appliance is and which services it balances.

The builder reads the profile from TOML, merges it over the embedded
default and bakes the result into the image as JSON; the agent reads that
JSON. Both go through `Profile.from_dict`, so a profile that builds is a
profile the agent understands.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .errors import ProfileError

# Every pattern is used with fullmatch: `$` would also match before a final newline.
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,30}")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,30}(\.[A-Za-z][A-Za-z0-9_]{0,30}){1,3}")
_DURATION = re.compile(r"([0-9]{1,10})(ms|s|m|h|d)")
_APPLIANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,31}")
_INTERFACE = re.compile(r"[a-z][a-z0-9]{0,14}")
_URI = re.compile(r"/[\x21-\x7e]{0,254}")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
MAX_DURATION_MS = 2**31 - 1  # HAProxy's timers are signed 32-bit milliseconds (about 24.8 days)
MAX_TEXT = 1000  # descriptions
MAX_LABEL = 80  # labels: a line of the vCenter form and of the console banner
BALANCE_ALGORITHMS = ("source", "leastconn", "roundrobin")
CHECK_METHODS = ("GET", "HEAD", "OPTIONS")
# Names the rendered haproxy.cfg gives its own sections: a service of that name would collide.
RESERVED_SECTION_NAMES = ("stats", "health", "lbpair", "stats-users")
# Property keys outside the services' own: a service must not take one (see form.py).
FIXED_PROPERTY_PREFIXES = ("node.", "ha.", "stats.")
FIXED_PROPERTY_KEYS = ("vip.management",)


def shown(value, limit=60):
    """`value` for an error message: repr'd (control characters escaped) and cut when long."""
    text = repr(value)
    if len(text) > limit:
        text = "%s... (%d characters)" % (text[:limit], len(text))
    return text


def _control_character(text):
    """The first character of `text` that would break a line, a config or the XML form, else None."""
    for char in text:
        # Cc: C0/C1 controls and DEL; Zl/Zp: line and paragraph separators; Cs: lone surrogates.
        if unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs"):
            return char
    return None


def _text(data, where, key, default, limit, required=False):
    """A free-text field (label, description): one line of printable text, at most `limit` characters."""
    value = _take(data, where, key, str, default, required=required)
    bad = _control_character(value)
    if bad is not None:
        raise ProfileError(
            "%s.%s: contains the control character %s; use one line of printable text" % (where, key, shown(bad))
        )
    if len(value) > limit:
        raise ProfileError("%s.%s: %d characters; use at most %d" % (where, key, len(value), limit))
    return value


def _take(data, where, key, kind, default=None, required=False):
    """Read one typed field of a profile table, with a precise error."""
    if key not in data:
        if required:
            raise ProfileError("%s: missing %r; add it" % (where, key))
        return default
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ProfileError("%s.%s: expected %s, got %s" % (where, key, kind.__name__, shown(value)))
    return value


def shown_key(key):
    """A table key for a message: as it is when plain, else quoted and cut."""
    return key if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", key) else shown(key, 40)


def duration_ms(text):
    """Milliseconds of a duration such as 30s, 90m or 10h; None if `text` is not one."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def _duration(data, where, key, default, allow_empty=False):
    value = _take(data, where, key, str, default)
    if allow_empty and value == "":
        return value
    milliseconds = duration_ms(value)
    if milliseconds is None:
        raise ProfileError("%s.%s: %s is not a duration like 30s, 90m or 10h" % (where, key, shown(value)))
    if not 1 <= milliseconds <= MAX_DURATION_MS:
        raise ProfileError(
            "%s.%s: %s is outside 1ms to 24d (HAProxy's timer range); use e.g. 30s" % (where, key, shown(value))
        )
    return value


def _port(data, where, key, default):
    value = _take(data, where, key, int, default)
    if not 1 <= value <= 65535:
        raise ProfileError("%s.%s: %s is not a TCP port; use 1 to 65535" % (where, key, shown(value)))
    return value


def _reject_unknown(data, where, known):
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        raise ProfileError(
            "%s: unknown setting %s; remove it (known: %s)"
            % (where, ", ".join(shown_key(name) for name in unknown[:3]), ", ".join(sorted(known)))
        )


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
            raise ProfileError("%s.type: %s is not http or tcp" % (where, shown(check.type)))
        if check.method not in CHECK_METHODS:
            raise ProfileError("%s.method: %s is not one of %s" % (where, shown(check.method), ", ".join(CHECK_METHODS)))
        if not _URI.fullmatch(check.uri):
            raise ProfileError(
                "%s.uri: %s is not an absolute path of printable ASCII without spaces (at most 255)"
                % (where, shown(check.uri))
            )
        if not 100 <= check.expect_status <= 599:
            raise ProfileError("%s.expect_status: %s is not an HTTP status; use 100 to 599" % (where, shown(check.expect_status)))
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
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ProfileError(
                "services.%s: a service name must be lower-case letters, digits, '-' or '_', starting with a "
                "letter (at most 31); rename the table" % shown_key(name)
            )
        where = "services.%s" % name
        if name in RESERVED_SECTION_NAMES:
            raise ProfileError(
                "%s: %s is the name of one of the appliance's own HAProxy sections (%s); rename the service"
                % (where, shown(name), ", ".join(RESERVED_SECTION_NAMES))
            )
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
        ports = _take(data, where, "ports", list, required=True)
        if not ports or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports):
            raise ProfileError("%s.ports: expected a list of TCP ports 1-65535, got %s" % (where, shown(ports)))
        if len(set(ports)) != len(ports):
            raise ProfileError("%s.ports: %s lists a port twice; list each once" % (where, shown(ports)))
        service = cls(
            name=name,
            label=_text(data, where, "label", name, MAX_LABEL),
            description=_text(data, where, "description", "", MAX_TEXT),
            # Property keys take no '-': a service "web-eu" gets vip.web_eu and web_eu.servers.
            vip_property=_take(data, where, "vip_property", str, "vip.%s" % name.replace("-", "_")),
            servers_property=_take(data, where, "servers_property", str, "%s.servers" % name.replace("-", "_")),
            ports=tuple(ports),
            balance=_take(data, where, "balance", str, "source"),
            persistence=_duration(data, where, "persistence", "", allow_empty=True),
            redirect_http=_take(data, where, "redirect_http", bool, False),
            idle_timeout=_duration(data, where, "idle_timeout", "10h"),
            check=HealthCheck.from_dict(_take(data, where, "check", dict, {}), where + ".check"),
        )
        if service.balance not in BALANCE_ALGORITHMS:
            raise ProfileError(
                "%s.balance: %s is not one of %s" % (where, shown(service.balance), ", ".join(BALANCE_ALGORITHMS))
            )
        for setting, key in (("vip_property", service.vip_property), ("servers_property", service.servers_property)):
            if not _KEY.fullmatch(key):
                raise ProfileError(
                    "%s.%s: %s is not a property key like vip.%s or %s.servers"
                    % (where, setting, shown(key), name.replace("-", "_"), name.replace("-", "_"))
                )
            if key.startswith(FIXED_PROPERTY_PREFIXES) or key in FIXED_PROPERTY_KEYS:
                raise ProfileError(
                    "%s.%s: %s is one of the appliance's own properties (node.*, ha.*, stats.*, vip.management); "
                    "use a key of the service's own, e.g. %s" % (where, setting, shown(key),
                                                                 "vip.%s" % name.replace("-", "_") if setting == "vip_property"
                                                                 else "%s.servers" % name.replace("-", "_"))
                )
        if service.redirect_http and 80 in service.ports:
            raise ProfileError("%s: redirect_http needs port 80, which the service balances itself" % where)
        return service

    def section_names(self):
        """The HAProxy frontend and backend names this service's sections get."""
        names = [self.name] + list(self.backend_names.values())
        if self.redirect_http:
            names.append("%s-http" % self.name)
        return sorted(set(names))

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
                raise ProfileError("services.%s: expected a table, got %s" % (shown_key(name), shown(table)))
            enabled = _take(table, "services.%s" % shown_key(name), "enabled", bool, True)
            if enabled is False:
                continue
            services.append(Service.from_dict(name, table))
        templates = _take(data, "profile", "templates", dict, {})
        for key, value in templates.items():
            if not isinstance(value, str) or not value or _control_character(value) is not None:
                raise ProfileError("templates.%s: expected a file name, got %s" % (shown_key(key), shown(value)))
        profile = cls(
            name=_take(appliance, "appliance", "name", str, required=True),
            version=_take(appliance, "appliance", "version", str, required=True),
            vendor=_text(appliance, "appliance", "vendor", "", MAX_LABEL),
            description=_text(appliance, "appliance", "description", "", MAX_TEXT),
            interface=_take(network, "network", "interface", str, "eth0"),
            services=tuple(services),
            stats_port=_port(stats, "stats", "port", 8404),
            health_port=_port(ha, "ha", "health_port", 8405),
            peers_port=_port(ha, "ha", "peers_port", 10000),
            advert_interval=_take(ha, "ha", "advert_interval", float, 0.5),
            preempt=_take(ha, "ha", "preempt", bool, False),
            vm=_take(data, "profile", "vm", dict, {}),
            photon=_take(data, "profile", "photon", dict, {}),
            templates=dict(templates),
        )
        profile._check()
        return profile

    def _check(self):
        if not _APPLIANCE_NAME.fullmatch(self.name):
            raise ProfileError(
                "appliance.name: %s must be letters, digits, '.', '_' or '-', starting with a letter or digit "
                "(at most 64)" % shown(self.name)
            )
        if not _VERSION.fullmatch(self.version):
            raise ProfileError(
                "appliance.version: %s must be letters, digits, '.', '_', '+' or '-', starting with a letter or "
                "digit (at most 32), e.g. 1.0.0" % shown(self.version)
            )
        if not _INTERFACE.fullmatch(self.interface):
            raise ProfileError("network.interface: %s is not an interface name like eth0" % shown(self.interface))
        if not 0.01 <= self.advert_interval <= 255:
            raise ProfileError("ha.advert_interval: %s is outside 0.01-255 seconds" % shown(self.advert_interval))
        if not self.services:
            raise ProfileError("services: the profile balances nothing; keep or add at least one service")
        own_ports = {self.stats_port: "stats.port", self.health_port: "ha.health_port", self.peers_port: "ha.peers_port"}
        if len(own_ports) != 3:
            raise ProfileError("stats.port, ha.health_port and ha.peers_port must differ; give each its own port")
        sections = {}
        for service in self.services:
            for section in service.section_names():
                if section in RESERVED_SECTION_NAMES:
                    raise ProfileError(
                        "services.%s: its HAProxy section %s collides with the appliance's own; rename the service"
                        % (service.name, section)
                    )
                other = sections.setdefault(section, service.name)
                if other != service.name:
                    raise ProfileError(
                        "services.%s: its HAProxy section %s collides with one of services.%s; rename one of them"
                        % (service.name, section, other)
                    )
        names = [service.name for service in self.services]
        if len(set(names)) != len(names):
            raise ProfileError("services: a service name is used twice")
        vips = set(self.vip_properties())
        seen = {}
        for service in self.services:
            key = service.servers_property
            if key in vips:
                raise ProfileError(
                    "services.%s.servers_property: %s is also a VIP property; give the servers a key of their own, "
                    "e.g. %s.servers" % (service.name, key, service.name)
                )
            if key in seen:
                raise ProfileError(
                    "services.%s.servers_property: %s is also the servers property of services.%s; give each "
                    "service its own, e.g. %s.servers" % (service.name, key, seen[key], service.name)
                )
            seen[key] = service.name
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
