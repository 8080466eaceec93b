"""A private Ethernet link between two VMs, carried by qemu itself.

Each end is a qemu `dgram` netdev on a Unix datagram socket in a private
directory: every frame one VM sends arrives at the other, and nothing
touches the host's network (no tap, no bridge, no multicast, no root).
qemu before 7.2 has no `dgram`; there the link is the older `socket`
netdev over UDP on 127.0.0.1. Guest addresses come from the caller
(192.0.2.0/24 or 198.51.100.0/24 in this project).
"""

import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LinkEnd:
    """One VM's side of a link: where it receives and where it sends."""
    local: Path | tuple[str, int]
    remote: Path | tuple[str, int]

    def netdev(self, netdev_id: str, *, dgram: bool = True) -> str:
        if isinstance(self.local, Path):
            if not dgram:
                raise ValueError("a Unix socket link needs qemu's dgram netdev (qemu 7.2 or later)")
            return (f"dgram,id={netdev_id},local.type=unix,local.path={self.local},"
                    f"remote.type=unix,remote.path={self.remote}")
        (local_host, local_port), (remote_host, remote_port) = self.local, self.remote
        if dgram:
            return (f"dgram,id={netdev_id},local.type=inet,local.host={local_host},local.port={local_port},"
                    f"remote.type=inet,remote.host={remote_host},remote.port={remote_port}")
        return f"socket,id={netdev_id},udp={remote_host}:{remote_port},localaddr={local_host}:{local_port}"


@dataclass(frozen=True)
class PrivateLink:
    a: LinkEnd
    b: LinkEnd


def unix_link(directory: Path, name: str = "link") -> PrivateLink:
    """Two ends on Unix sockets under `directory` (short paths: sun_path holds 107 bytes)."""
    one, two = Path(directory) / f"{name}-a.sock", Path(directory) / f"{name}-b.sock"
    if len(bytes(one)) > 100:
        raise ValueError(f"socket path too long for a Unix socket: {one}")
    return PrivateLink(LinkEnd(one, two), LinkEnd(two, one))


def udp_link(host: str = "127.0.0.1") -> PrivateLink:
    """Two ends on free UDP ports of the loopback address."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for probe in probes:  # both bound at once, so the two ports differ
            probe.bind((host, 0))
        ports = [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()
    one, two = (host, ports[0]), (host, ports[1])
    return PrivateLink(LinkEnd(one, two), LinkEnd(two, one))
