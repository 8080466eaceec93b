"""Day-2 operations on the running pair (issue 16): the statistics page over TLS only, remote
syslog, static routes, the VRRP state where admins look.

Runs before test_pair.py (file order) on the same package-scoped pair and
moves no VIP; the keepalived state change sent on a failover is checked in
test_pair.py, after its failovers.
"""

import base64
import hashlib
import re
import shutil
import socket
import threading

import pytest

from appliance_agent import status, tls

from . import netns
from .conftest import VIPS

pytestmark = pytest.mark.netns

ADMIN = ("admin", 'Adm1n&<"stats>')  # sample_properties' passwords
READONLY = ("stats", "Read-only-stats1")


def certificate_of(node):
    """The certificate the agent made on this node (the PEM before the key)."""
    pem = (node.root / "etc/haproxy/certs/stats.pem").read_text()
    return pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----\n")]


def test_stats_page_answers_over_tls_with_the_node_certificate(pair, client):
    holder = pair.wait_converged()
    ca = certificate_of(holder)
    status_line, _, version, der = client.tls_get(VIPS["management"], 8404, "/stats", ca)
    assert " 401 " in status_line  # behind its password
    assert version in ("TLSv1.2", "TLSv1.3")
    # The fingerprint the console banner shows is the certificate served.
    shown = ":".join("%02X" % byte for byte in hashlib.sha256(der).digest())
    banner = (holder.root / "etc/issue").read_text()
    assert shown == tls.fingerprint(ca)
    assert shown[:47] in banner and shown[48:] in banner
    # Each node serves its own address too, with its own certificate.
    for node in pair.nodes:
        assert " 401 " in client.tls_get(node.address, 8404, "/stats", certificate_of(node))[0]
    # A client that does not trust the certificate gets no page.
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        client.tls_get(VIPS["management"], 8404, "/stats", certificate_of(pair.other(holder)))


def test_stats_page_refuses_plain_http_credentials(pair, client):
    """Credentials sent in clear get no HTTP answer at all: the TLS handshake fails and the connection closes."""
    pair.wait_converged()
    token = base64.b64encode(("%s:%s" % ADMIN).encode()).decode()
    request = ("GET /stats;csv HTTP/1.0\r\nHost: %s\r\nAuthorization: Basic %s\r\n\r\n" % (VIPS["management"], token)).encode()
    answer = client.plain_exchange(VIPS["management"], 8404, request)
    assert b"HTTP/" not in answer and b"pxname" not in answer
    # Control: the same credentials over TLS do open the page.
    holder = pair.wait_converged()
    assert " 200 " in client.tls_get(VIPS["management"], 8404, "/stats;csv", certificate_of(holder), auth=ADMIN)[0]


def test_readonly_user_reads_the_csv_collectors_scrape(pair, client):
    """What haproxy_exporter (--haproxy.scrape-uri=https://stats:...@VIP:8404/stats;csv) and other collectors read."""
    holder = pair.wait_converged()
    status_line, body, _, _ = client.tls_get(VIPS["management"], 8404, "/stats;csv", certificate_of(holder), auth=READONLY)
    assert " 200 " in status_line
    header, rows = body.splitlines()[0], [line.split(",") for line in body.splitlines()[1:] if line]
    assert header.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,")
    columns = header[2:].split(",")
    by_name = {(row[0], row[1]): dict(zip(columns, row)) for row in rows}
    assert by_name[("horizon", "horizon1")]["status"] == "UP"
    assert by_name[("horizon", "BACKEND")]["status"] == "UP"
    assert ("uag-8443", "uag2") in by_name
    # The read-only user sees no admin form; the admin does.
    assert "Action processed" not in body
    _, page, _, _ = client.tls_get(VIPS["management"], 8404, "/stats", certificate_of(holder), auth=READONLY)
    _, admin_page, _, _ = client.tls_get(VIPS["management"], 8404, "/stats", certificate_of(holder), auth=ADMIN)
    assert "Choose the action" not in page and "Choose the action" in admin_page
    # A wrong password is refused like no password.
    assert " 401 " in client.tls_get(VIPS["management"], 8404, "/stats;csv", certificate_of(holder), auth=("stats", "wrong"))[0]


def test_haproxy_request_logs_reach_the_syslog_server(pair, client, syslog):
    holder = pair.wait_converged()
    source = "192.0.2.139"  # a client address of its own, to find its log line
    assert client.backend(VIPS["horizon"], 443, source=source).startswith("horizon")
    lines = netns.wait_for(
        lambda: syslog.matching(r"haproxy\[\d+\]: %s:\d+ .* horizon horizon/horizon\d" % re.escape(source), holder.address),
        5, what="HAProxy's log line of the request at the syslog server",
    )
    assert lines[0].startswith("<134>")  # local0.info, RFC 3164 as HAProxy sends it


def test_keepalived_states_reach_the_syslog_server_and_the_banner(pair, syslog, tmp_path):
    """At start: each node's notify hook sent its state and recorded it for the banner."""
    holder = pair.wait_converged()
    backup = pair.other(holder)
    netns.wait_for(lambda: syslog.matching(r"keepalived .*VRRP instance LB is now MASTER", holder.address), 5, what="MASTER from the holder")
    netns.wait_for(lambda: syslog.matching(r"keepalived .*VRRP instance LB is now BACKUP", backup.address), 5, what="BACKUP from the backup")
    for node, state in ((holder, "MASTER"), (backup, "BACKUP")):
        recorded = node.vrrp_state_file()
        assert recorded and recorded.split()[0] == state
        # The banner the agent makes from what the hook recorded (appliance-report does this as root).
        root = tmp_path / node.hostname
        (root / "etc").mkdir(parents=True)
        (root / "run/appliance-vrrp").mkdir(parents=True)
        shutil.copy(node.root / "etc/issue", root / "etc/issue")
        (root / "run/appliance-vrrp/state").write_text(recorded)
        assert status.refresh_banner(str(root))
        assert re.search(r"^  VRRP      %s since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$" % state, (root / "etc/issue").read_text(), re.M)


def test_static_route_reaches_the_network_behind_the_second_router(pair, topology):
    """node.routes: the internal host answers the node through 192.0.2.254; the client, without the route, cannot reach it."""
    with netns.in_netns(topology.internal_ns):
        listener = socket.socket()
    accepted = []
    with listener:
        listener.bind((netns.INTERNAL_HOST, 7777))
        listener.listen(4)
        listener.settimeout(5)
        thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
        thread.start()
        for node in pair.nodes:
            route = netns.run(["ip", "-n", node.netns, "route", "get", netns.INTERNAL_HOST]).stdout.decode()
            assert "via %s" % netns.ROUTER in route
        node = pair.nodes[0]
        assert netns.Client(node.netns).tcp_connect(netns.INTERNAL_HOST, 7777, source=None, timeout=2) == "open"
        thread.join(5)
        assert accepted and accepted[0][1][0] == node.address  # straight from the node, no NAT
        accepted[0][0].close()
        assert topology.client.tcp_connect(netns.INTERNAL_HOST, 7777, timeout=1) != "open"


def test_firewall_accepts_nothing_new_for_syslog(pair, client):
    """The node sends syslog; it does not listen for it: UDP 514 to a node is dropped by the default policy."""
    holder = pair.wait_converged()
    table = holder.iptables_input()
    assert not re.search(r"\b(514|udp)\b", table), table
