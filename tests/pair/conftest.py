"""Fixtures for the pair tests: the namespace topology and a running pair built from `build-appliance render`.

Skips only when the machine cannot run them at all (not root, no `ip netns`);
a missing daemon or tool is a failure, since scripts/test installs them.
"""

import pwd
import time

import pytest

from . import netns

VIPS = {
    "management": "192.0.2.20",
    "horizon": "192.0.2.21",
    "appvolumes": "192.0.2.22",
    "uag": "192.0.2.23",
}


@pytest.fixture(scope="package")
def topology(tmp_path_factory):
    """Switch, client and the six backend servers; torn down even when a test or the build fails."""
    reason = netns.netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    missing = netns.missing_tools()
    if missing:
        pytest.fail("missing %s (scripts/test installs them)" % ", ".join(missing))
    try:
        pwd.getpwnam("keepalived_script")
    except KeyError:
        pytest.fail("user keepalived_script is missing (scripts/test creates it; the appliance has it)")
    topo = netns.Topology(tmp_path_factory.mktemp("pair"))
    try:
        topo.build()
        yield topo
    finally:
        topo.destroy()


# The Operations properties (issue 16) the pair is deployed with.
OPERATIONS = (
    "log.syslog_server=%s" % netns.SYSLOG_SERVER,
    "node.routes=%s via %s" % (netns.INTERNAL_NETWORK, netns.ROUTER),
)


@pytest.fixture(scope="package")
def syslog(topology):
    """The site's syslog server, listening before the nodes boot."""
    listener = netns.SyslogListener(topology.client_ns)
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="package")
def pair(topology, syslog):
    """MASTER and BACKUP rendered by the agent, booted in their own namespaces, converged.

    A sampler watches both nodes' VIPs from convergence to the end of the
    package; the tests read its overlaps.
    """
    master_root = netns.render_node("MASTER", topology.workdir / "render" / "master", OPERATIONS)
    backup_root = netns.render_node("BACKUP", topology.workdir / "render" / "backup", OPERATIONS)
    master = topology.add_node("lb1", master_root)
    backup = topology.add_node("lb2", backup_root)
    running = netns.Pair(master, backup, VIPS.values())
    running.wait_converged(timeout=20)
    running.sampler = netns.Sampler(running).start()
    try:
        yield running
    finally:
        running.sampler.stop()


@pytest.fixture(scope="package")
def client(topology):
    return topology.client


def failover(pair, client, fault, restore, what):
    """Fault the holder, check the peer takes every VIP and serves, restore, check nopreempt.

    Returns {"takeover": seconds from fault to the peer holding the VIPs,
    "service": seconds from fault to a client request served through the VIP}.
    """
    holder = pair.wait_converged(timeout=20)
    peer = pair.other(holder)
    before = len(holder.vrrp_states())
    start = time.monotonic()
    fault(holder)
    netns.wait_for(lambda: pair.holder() is peer, 10, interval=0.05, what="%s: the peer to take the VIPs" % what)
    takeover = time.monotonic() - start
    served = netns.wait_for(
        lambda: client.backend(VIPS["horizon"], 443, timeout=0.5), 10, interval=0.05, what="%s: service through the VIP" % what
    )
    service = time.monotonic() - start
    assert served.startswith("horizon")

    restore(holder)
    # Recovery as designed (nopreempt): the old holder comes back as BACKUP and leaves the VIPs alone.
    netns.wait_for(
        lambda: holder.vrrp_states()[before:] and holder.vrrp_states()[-1] == "BACKUP",
        20,
        what="%s: the recovered node to enter BACKUP" % what,
    )
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert pair.holder() is peer, "%s: the VIPs moved back to the recovered node (nopreempt expected)" % what
        time.sleep(0.1)
    assert holder.healthy()
    overlaps = pair.sampler.overlaps_since(start)
    assert not overlaps, "%s: both nodes held %s" % (what, overlaps[:3])
    print("%s: peer holds the VIPs after %.2fs, serves after %.2fs" % (what, takeover, service))
    return {"takeover": takeover, "service": service}

