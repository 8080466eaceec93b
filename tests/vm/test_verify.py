"""verify's pieces without VMs: the environments and the CD they travel on (read back by the agent's own
transport), and the checks judged from self-test reports as the guests print them."""

import itertools

import pytest

from appliance_agent.form import form_for
from appliance_agent.ovfenv import parse_environment
from appliance_agent.transport import CD_NAMES, find_root_file
from builder.errors import InvalidInput
from builder.iso.image import write_env_iso
from builder.profile import load_profile
from builder import verify


@pytest.fixture(scope="module")
def profile():
    return load_profile(None)


def test_environments_are_a_pair_with_the_self_test_and_a_broken_master(profile):
    keys = [prop.key for prop in form_for(profile)]
    documents = verify.environments(profile, keys)
    master, backup, broken = (parse_environment(documents[name]) for name in ("MASTER", "BACKUP", "MASTER-broken"))
    assert (master["node.role"], backup["node.role"]) == ("MASTER", "BACKUP")
    assert master["ha.peer_ip"] == backup["node.ip"].split("/")[0]
    assert master["appliance.selftest"] == backup["appliance.selftest"] == "drill"
    assert broken["ha.peer_ip"] == verify.BROKEN_PEER and broken["node.ip"] == master["node.ip"]
    for value in (master["node.ip"], backup["node.ip"], master["vip.management"]):
        assert value.startswith("192.0.2.")


def test_an_ova_of_another_profile_is_refused_in_one_line(profile):
    keys = [prop.key for prop in form_for(profile) if prop.key != "vip.uag"]
    with pytest.raises(InvalidInput, match=r"^the OVA's properties differ .*vip\.uag.*--profile FILE$"):
        verify.environments(profile, keys)


def test_env_cd_is_read_by_the_agents_cd_transport(tmp_path, profile):
    document = verify.environments(profile, [prop.key for prop in form_for(profile)])["BACKUP"]
    cd = tmp_path / "env.iso"
    write_env_iso(cd, document)
    with open(cd, "rb") as handle:
        assert find_root_file(handle, CD_NAMES) == document
    assert not (tmp_path / "env.iso.partial").exists()


def report_of(lines):
    report = verify.NodeReport()
    for line in lines:
        report.feed(line)
    return report


GOOD = [
    "appliance-selftest: ENV ok",
    "appliance-selftest: FILE /etc/haproxy/haproxy.cfg " + "a" * 64 + " rendered",
    "appliance-selftest: FILE /etc/keepalived/keepalived.conf " + "b" * 64 + " rendered",
    "appliance-selftest: UNIT haproxy.service active /etc/haproxy/haproxy.cfg",
    "appliance-selftest: UNIT keepalived.service active /etc/keepalived/keepalived.conf",
    "appliance-selftest: VIPS none",
    "appliance-selftest: READY uptime 61.5 agent -",
]
UNITS = {"haproxy.service": "/etc/haproxy/haproxy.cfg", "keepalived.service": "/etc/keepalived/keepalived.conf"}


def test_a_good_node_passes_applied_and_units():
    report = report_of(["[  OK  ] noise"] + GOOD)
    assert verify.check_applied("MASTER", report).passed
    check = verify.check_units("MASTER", report, UNITS)
    assert check.passed and "haproxy.service active from /etc/haproxy/haproxy.cfg" in check.detail


def test_each_way_a_node_can_be_wrong_is_named():
    refused = report_of([GOOD[0].replace("ok", "invalid ha.peer_ip: 203.0.113.9 is outside")] + GOOD[1:])
    assert "refused: ha.peer_ip" in verify.check_applied("BACKUP", refused).detail
    edited = report_of([line.replace("a" * 64 + " rendered", "a" * 64 + " differs") for line in GOOD])
    assert "/etc/haproxy/haproxy.cfg" in verify.check_applied("BACKUP", edited).detail
    stopped = report_of([line.replace("haproxy.service active", "haproxy.service failed") for line in GOOD])
    assert verify.check_units("BACKUP", stopped, UNITS).detail == "haproxy.service is failed"
    elsewhere = report_of([line.replace("active /etc/haproxy/haproxy.cfg", "active /tmp/other.cfg") for line in GOOD])
    assert "runs /tmp/other.cfg" in verify.check_units("BACKUP", elsewhere, UNITS).detail
    assert not verify.check_applied("MASTER", report_of(GOOD[:-1])).passed  # no READY: still booting


def test_exactly_one_holder_of_all_vips():
    vips = ("192.0.2.20", "192.0.2.21")
    held = "appliance-selftest: VIPS held 192.0.2.20,192.0.2.21"
    one = {"MASTER": report_of(GOOD + [held]), "BACKUP": report_of(GOOD)}
    assert verify.check_one_holder(one, vips).passed and verify.holder(one) == "MASTER"
    both = {"MASTER": report_of(GOOD + [held]), "BACKUP": report_of(GOOD + [held])}
    assert "MASTER: 192.0.2.20, 192.0.2.21; BACKUP: 192.0.2.20" in verify.check_one_holder(both, vips).detail
    part = {"MASTER": report_of(GOOD + ["appliance-selftest: VIPS held 192.0.2.20"]), "BACKUP": report_of(GOOD)}
    assert not verify.check_one_holder(part, vips).passed
    none = {"MASTER": report_of(GOOD), "BACKUP": report_of(GOOD)}
    assert not verify.check_one_holder(none, vips).passed and verify.holder(none) is None
    moved = report_of(GOOD + [held, "appliance-selftest: VIPS none"])
    assert moved.vips == ()


def test_first_boot_times_run_from_power_on_to_ready_and_to_serving(monkeypatch):
    seconds = itertools.count(110, 10)  # one clock reading per console line
    monkeypatch.setattr(verify.time, "monotonic", lambda: float(next(seconds)))
    report = verify.NodeReport(powered_on=100.0)
    for line in GOOD + ["appliance-selftest: VIPS held 192.0.2.20,192.0.2.21"]:
        report.feed(line)
    assert report.timings() == {"ready_seconds": 70.0, "serving_seconds": 80.0,
                                "guest_uptime_at_ready_seconds": 61.5, "guest_agent_done_seconds": None}
    assert verify.check_applied("MASTER", report).detail.endswith(", 70 s after power-on")
    backup = report_of(GOOD)
    assert backup.serving_after is None and verify.check_one_holder(
        {"MASTER": report, "BACKUP": backup}, ("192.0.2.20", "192.0.2.21")).detail.endswith("serving 80 s after power-on")
