"""Sample property values for one node of a pair (documentation addresses only).

Used by `build-appliance env-template` and the tests: MASTER and BACKUP
samples form a consistent pair that `render` accepts as they are.
"""

import collections

from .form import form_for

NODE_IPS = {"MASTER": "192.0.2.11", "BACKUP": "192.0.2.12"}


def sample_properties(profile, role):
    """An ordered {key: value} for every property of the profile's form."""
    peer_role = "BACKUP" if role == "MASTER" else "MASTER"
    fixed = {
        "node.role": role,
        "node.hostname": "lb01" if role == "MASTER" else "lb02",
        "node.ip": NODE_IPS[role] + "/24",
        "node.gateway": "192.0.2.1",
        "node.dns": "192.0.2.53,192.0.2.54",
        "node.domain": "example.com",
        "node.ntp": "ntp1.example.com,192.0.2.123",
        "node.root_password": "Sample-root-Passw0rd",
        "node.ssh_key": "",
        "ha.peer_ip": NODE_IPS[peer_role],
        "ha.vrid": "51",
        "vip.management": "192.0.2.20",
        # Characters that must survive XML escaping and never reach a config in clear.
        "stats.admin_password": 'Adm1n&<"stats>',
        "stats.readonly_password": "Read-only-stats1",
        "stats.allowed_networks": "192.0.2.0/24,203.0.113.0/24",
    }
    values = collections.OrderedDict()
    next_vip = 21
    next_backend = 11
    vip_of = {}
    for prop in form_for(profile):
        if prop.key in fixed:
            values[prop.key] = fixed[prop.key]
        elif prop.kind == "optional_ipv4":
            vip_of[prop.key] = "192.0.2.%d" % next_vip
            values[prop.key] = vip_of[prop.key]
            next_vip += 1
        elif prop.kind == "backends":
            service = profile.service(prop.service)
            values[prop.key] = ",".join(
                "%s%d=198.51.100.%d" % (service.name, index, next_backend + index - 1) for index in (1, 2)
            )
            next_backend += 10
        else:
            values[prop.key] = prop.default
    return values
