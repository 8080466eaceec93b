"""The appliance's self-test report (appliance_agent.selftest) against a root the real agent configured."""

import hashlib
import shutil
import subprocess

import pytest

from appliance_agent import pipeline, selftest
from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties
from builder.profile import load_profile


@pytest.fixture
def profile():
    return load_profile(None)


def env(profile, role="MASTER", **changes):
    values = sample_properties(profile, role)
    values.update({key.replace("__", "."): value for key, value in changes.items()})
    return build_environment(values)


def configured_root(tmp_path, profile, xml):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    pipeline.configure(xml, profile, root=str(root), check=False, activate=False, log=lambda line: None)
    return root


def test_selftest_runs_only_when_the_hidden_property_asks(profile):
    assert selftest.requested_mode(None) == ""
    assert selftest.requested_mode(env(profile)) == ""
    assert selftest.requested_mode(env(profile, appliance__selftest="report")) == "report"
    assert selftest.requested_mode(env(profile, appliance__selftest="DRILL")) == "drill"
    assert selftest.requested_mode(env(profile, appliance__selftest="rm -rf")) == ""
    assert selftest.requested_mode("<not xml") == ""
    said = []
    assert selftest.run(env(profile), profile, say=said.append) == 0 and said == []


def test_files_the_agent_wrote_are_reported_as_rendered_then_as_differing(tmp_path, profile):
    xml = env(profile, appliance__selftest="report")
    root = configured_root(tmp_path, profile, xml)
    words, rows = selftest.file_report(xml, profile, str(root))
    assert words == ["ok"]
    verdicts = {path: verdict for path, _digest, verdict in rows}
    assert verdicts["/etc/haproxy/haproxy.cfg"] == "rendered" and set(verdicts.values()) == {"rendered"}
    digest = {path: value for path, value, _ in rows}["/etc/keepalived/keepalived.conf"]
    assert digest == hashlib.sha256((root / "etc/keepalived/keepalived.conf").read_bytes()).hexdigest()
    with open(root / "etc/haproxy/haproxy.cfg", "a") as edited:
        edited.write("# edited by hand\n")
    (root / "etc/hosts").unlink()
    verdicts = {path: verdict for path, _digest, verdict in selftest.file_report(xml, profile, str(root))[1]}
    assert verdicts["/etc/haproxy/haproxy.cfg"] == "differs" and verdicts["/etc/hosts"] == "missing"


def test_the_banner_counts_as_rendered_whatever_vrrp_state_it_shows(tmp_path, profile):
    # keepalived's notify hook records the state; appliance-report rewrites the banner's VRRP line
    # when it gets to it. Either moment is the configuration as rendered; any other edit is not.
    xml = env(profile, appliance__selftest="report")
    root = configured_root(tmp_path, profile, xml)
    (root / "run/appliance-vrrp").mkdir(parents=True, exist_ok=True)
    (root / "run/appliance-vrrp/state").write_text("MASTER 1700000000\n")
    verdicts = {path: verdict for path, _digest, verdict in selftest.file_report(xml, profile, str(root))[1]}
    assert verdicts["/etc/issue"] == "rendered"
    with open(root / "etc/issue", "a") as edited:
        edited.write("edited by hand\n")
    verdicts = {path: verdict for path, _digest, verdict in selftest.file_report(xml, profile, str(root))[1]}
    assert verdicts["/etc/issue"] == "differs"


def test_a_broken_environment_is_named_and_the_kept_files_digested(tmp_path, profile):
    good = env(profile, appliance__selftest="report")
    root = configured_root(tmp_path, profile, good)
    broken = env(profile, appliance__selftest="report", ha__peer_ip="203.0.113.9")
    words, rows = selftest.file_report(broken, profile, str(root))
    assert words[0] == "invalid" and "ha.peer_ip" in words[1] and "subnet" in words[1]
    kept = {path: digest for path, digest, verdict in rows if verdict == "kept"}
    assert kept["/etc/haproxy/haproxy.cfg"] == hashlib.sha256((root / "etc/haproxy/haproxy.cfg").read_bytes()).hexdigest()
    # the VIPs to watch come from the kept keepalived.conf then
    assert selftest._state_vips(str(root)) == selftest.expected_vips(good, profile) != []


def test_config_file_of_a_daemon_from_its_command_line():
    assert selftest.config_in_cmdline(["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p", "x"],
                                      "/default") == "/etc/haproxy/haproxy.cfg"
    assert selftest.config_in_cmdline(["keepalived", "--use-file=/etc/keepalived/k.conf"], None) == "/etc/keepalived/k.conf"
    assert selftest.config_in_cmdline(["keepalived", "--dont-fork"], "/etc/keepalived/keepalived.conf") == \
        "/etc/keepalived/keepalived.conf"


def test_held_vips_from_ip_addr_output():
    class Shown:
        stdout = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
                  "2: eth0    inet 192.0.2.11/24 brd 192.0.2.255 scope global eth0\n"
                  "2: eth0    inet 192.0.2.21/32 scope global eth0\n")

    assert selftest.held_vips(["192.0.2.20", "192.0.2.21"], run=lambda *a, **k: Shown) == ["192.0.2.21"]


def test_selftest_is_python_3_7_compatible():
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("vermin") is None:
        pytest.skip("vermin (test extra)")
    source = Path(selftest.__file__)
    result = subprocess.run(["vermin", "-t=3.7-", "--no-tips", "--violations", str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ready_carries_the_guests_own_clock(tmp_path):
    (tmp_path / "uptime").write_text("61.52 100.07\n")
    assert selftest.uptime(str(tmp_path / "uptime")) == 61.52
    assert selftest.uptime(str(tmp_path / "missing")) is None

    def shown(value):
        return lambda *args, **kwargs: subprocess.CompletedProcess(args, 0, f"ExecMainExitTimestampMonotonic={value}\n")

    assert selftest.agent_finished(run=shown("40312345")) == 40.312345
    assert selftest.agent_finished(run=shown("0")) is None  # not run (yet)
    assert selftest._seconds(None) == "-" and selftest._seconds(40.312345) == "40.3"
