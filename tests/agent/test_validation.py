"""Bad property values: one at a time and together, through the real CLI."""

import pytest
from click.testing import CliRunner

from appliance_agent.errors import ValidationError
from appliance_agent.ovfenv import parse_environment
from appliance_agent.settings import validate
from builder.cli import cli

from .conftest import tree_digest

# (overrides, key named in the error, a fragment of the fix)
BAD_VALUES = [
    ({"node.ip": "192.0.2.300/24"}, "node.ip", "not an IPv4 address"),
    ({"node.ip": "192.0.2.11"}, "node.ip", "no prefix length"),
    ({"node.ip": "192.0.2.11/33"}, "node.ip", "enter 8 to 30"),
    ({"ha.peer_ip": "203.0.113.12"}, "ha.peer_ip", "outside this node's subnet"),
    ({"ha.peer_ip": "192.0.2.11"}, "ha.peer_ip", "this node's own address"),
    ({"vip.appvolumes": "192.0.2.21"}, "vip.appvolumes", "already used by vip.horizon"),
    ({"vip.uag": "192.0.2.11"}, "vip.uag", "already used by node.ip"),
    ({"vip.horizon": "198.51.100.21"}, "vip.horizon", "must be in that subnet"),
    ({"ha.vrid": "0"}, "ha.vrid", "enter 1 to 255"),
    ({"ha.vrid": "300"}, "ha.vrid", "enter 1 to 255"),
    ({"horizon.servers": ""}, "horizon.servers", "needs at least one server"),
    ({"uag.servers": "uag1=198.51.100.31:443"}, "uag.servers", "remove the :port"),
    ({"node.role": "PRIMARY"}, "node.role", "MASTER on one node and BACKUP"),
    ({"node.gateway": "203.0.113.1"}, "node.gateway", "outside this node's subnet"),
    ({"node.hostname": "lb01.example.com"}, "node.hostname", "without the domain"),
    ({"stats.admin_password": "short"}, "stats.admin_password", "at least 8 characters"),
    ({"stats.admin_password": ""}, "stats.admin_password", "is required"),
    ({"vip.management": "", "vip.horizon": "", "vip.appvolumes": "", "vip.uag": ""}, "vip.horizon", "no service is switched on"),
    ({"stats.allowed_networks": "everyone"}, "stats.allowed_networks", "not an IPv4 network"),
]


@pytest.mark.parametrize("overrides, key, fix", BAD_VALUES, ids=[case[1] + ":" + case[2] for case in BAD_VALUES])
def test_each_bad_value_is_named_with_its_fix(make_env, profile, overrides, key, fix):
    with pytest.raises(ValidationError) as caught:
        validate(parse_environment(make_env("MASTER", overrides)), profile)
    problems = dict(caught.value.problems)
    assert key in problems, caught.value.problems
    assert fix in problems[key]


def test_problems_in_combination_are_all_reported(make_env, profile):
    env = make_env("BACKUP", {"node.ip": "10.0.0.5/40", "ha.vrid": "0", "vip.uag": "192.0.2.21", "node.role": "SLAVE"})
    with pytest.raises(ValidationError) as caught:
        validate(parse_environment(env), profile)
    assert [key for key, _ in caught.value.problems] == ["node.role", "node.ip", "ha.vrid", "vip.uag"]


def test_empty_vip_switches_a_service_off(make_env, profile):
    settings = validate(parse_environment(make_env("MASTER", {"vip.appvolumes": "", "appvolumes.servers": ""})), profile)
    assert [s.service.name for s in settings.services] == ["horizon", "uag"]
    assert settings.disabled_services == ("appvolumes",)


def test_missing_properties_take_defaults(make_env, profile):
    settings = validate(parse_environment(make_env("MASTER", drop=["ha.vrid", "node.dns"])), profile)
    assert settings.vrid == 51 and settings.dns == ()


def _good_root(tmp_path, make_env):
    env = tmp_path / "good.xml"
    env.write_bytes(make_env("MASTER"))
    root = tmp_path / "root"
    result = CliRunner().invoke(cli, ["render", "--env", str(env), "--out", str(root), "--no-check"])
    assert result.exit_code == 0, result.output
    return root


CLI_CASES = BAD_VALUES[:6] + [BAD_VALUES[8], BAD_VALUES[9], BAD_VALUES[10], BAD_VALUES[12]]


@pytest.mark.parametrize("overrides, key, fix", CLI_CASES, ids=[case[1] + ":" + case[2] for case in CLI_CASES])
def test_cli_rejects_bad_value_and_keeps_the_good_config(tmp_path, make_env, overrides, key, fix):
    root = _good_root(tmp_path, make_env)
    before = tree_digest(root)
    bad = tmp_path / "bad.xml"
    bad.write_bytes(make_env("MASTER", overrides))
    result = CliRunner().invoke(cli, ["render", "--env", str(bad), "--out", str(root)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Error: %s: " % key) and fix in lines[0], result.output
    assert "Traceback" not in result.output
    assert tree_digest(root) == before


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"<html><body>hello</body></html>", "not an OVF environment"),
        (b"<Environment xmlns='http://schemas.dmtf.org/ovf/environment/1'/>", "no PropertySection"),
        (b"not xml at all", "not well-formed XML"),
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", "DOCTYPE"),
    ],
)
def test_cli_rejects_documents_that_are_not_ovf_environments(tmp_path, make_env, content, fragment):
    root = _good_root(tmp_path, make_env)
    before = tree_digest(root)
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    result = CliRunner().invoke(cli, ["render", "--env", str(bad), "--out", str(root)])
    assert result.exit_code == 1 and fragment in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert tree_digest(root) == before


def test_cli_missing_env_file(tmp_path):
    result = CliRunner().invoke(cli, ["render", "--env", str(tmp_path / "nope.xml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: %s: no such file; pass the path of an OVF environment XML to --env" % (tmp_path / "nope.xml")
