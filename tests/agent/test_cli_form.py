"""The property form through the CLI, the env-template sample, and user profiles."""

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from appliance_agent.form import form_for
from appliance_agent.ovfenv import parse_environment
from builder.cli import cli
from builder.errors import InvalidInput
from builder.profile import load_profile

from .conftest import free_port

ISSUE_KEYS = [
    "node.role", "node.hostname", "node.ip", "node.gateway", "node.dns", "node.domain", "node.ntp",
    "node.root_password", "node.ssh_key", "ha.peer_ip", "ha.vrid", "vip.management", "vip.horizon",
    "vip.appvolumes", "vip.uag", "horizon.servers", "appvolumes.servers", "uag.servers",
    "stats.admin_password", "stats.readonly_password", "stats.allowed_networks",
    # issue 16, category "6. Operations"
    "stats.tls_certificate", "log.syslog_server", "node.routes",
]


def test_default_form_has_the_agreed_keys(profile):
    assert sorted(prop.key for prop in form_for(profile) if not prop.hidden) == sorted(ISSUE_KEYS)
    # build-appliance verify's switch: in the OVF (userConfigurable false), never on vCenter's form
    assert [prop.key for prop in form_for(profile) if prop.hidden] == ["appliance.selftest"]


def test_properties_json_is_the_form(profile):
    result = CliRunner().invoke(cli, ["properties", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert [item["key"] for item in listed] == [prop.key for prop in form_for(profile)]
    passwords = {item["key"] for item in listed if item["password"]}
    # The certificate bundle holds a private key: vCenter masks it like a password.
    assert passwords == {"node.root_password", "stats.admin_password", "stats.readonly_password", "stats.tls_certificate"}
    vrid = [item for item in listed if item["key"] == "ha.vrid"][0]
    assert vrid["type"] == "uint8" and vrid["qualifiers"] == "MinValue(1),MaxValue(255)" and vrid["default"] == "51"


def test_properties_table_groups_by_category():
    result = CliRunner().invoke(cli, ["properties"])
    assert result.exit_code == 0
    assert result.output.index("1. This node") < result.output.index("node.role") < result.output.index("2. High availability")


@pytest.mark.parametrize("role", ["MASTER", "BACKUP"])
def test_env_template_is_schema_valid_and_renders(tmp_path, ovf_schemas, role):
    out = tmp_path / "env.xml"
    result = CliRunner().invoke(cli, ["env-template", "--role", role, "--set", "ha.vrid=77", "--out", str(out)])
    assert result.exit_code == 0, result.output
    if shutil.which("xmllint"):
        check = subprocess.run(["xmllint", "--noout", "--schema", str(ovf_schemas / "ovf-environment.xsd"), str(out)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    elif __import__("os").environ.get("CI"):
        pytest.fail("xmllint missing")
    props = parse_environment(out.read_bytes())
    assert props["node.role"] == role and props["ha.vrid"] == "77" and props["stats.admin_password"] == 'Adm1n&<"stats>'
    rendered = CliRunner().invoke(cli, ["render", "--env", str(out), "--out", str(tmp_path / "root"), "--no-check"])
    assert rendered.exit_code == 0, rendered.output


def test_env_template_rejects_unknown_key():
    result = CliRunner().invoke(cli, ["env-template", "--role", "MASTER", "--set", "no.such=1"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_every_command_has_help():
    for name, command in cli.commands.items():
        assert command.help and len(command.help.strip()) > 20, name
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def write_profile(tmp_path, text):
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def test_user_profile_adds_drops_and_changes_services(tmp_path):
    path = write_profile(tmp_path, """
[appliance]
name = "edge-lb"
[services.appvolumes]
enabled = false
[services.horizon]
persistence = "3h"
[services.workspace]
label = "Workspace ONE Access"
ports = [443]
check = { method = "GET", uri = "/SAAS/API/1.0/REST/system/health/heartbeat" }
""")
    profile = load_profile(path)
    assert profile.name == "edge-lb" and profile.version == "1.0.0"
    assert [s.name for s in profile.services] == ["horizon", "uag", "workspace"]
    assert profile.service("horizon").persistence == "3h"
    keys = [prop.key for prop in form_for(profile)]
    assert "vip.workspace" in keys and "workspace.servers" in keys and "vip.appvolumes" not in keys
    out = tmp_path / "env.xml"
    assert CliRunner().invoke(cli, ["env-template", "--role", "MASTER", "--profile", str(path), "--out", str(out)]).exit_code == 0
    result = CliRunner().invoke(cli, ["render", "--env", str(out), "--out", str(tmp_path / "root"), "--profile", str(path)])
    assert result.exit_code == 0, result.output
    cfg = (tmp_path / "root/etc/haproxy/haproxy.cfg").read_text()
    assert "backend workspace" in cfg and "uri /SAAS/API/1.0/REST/system/health/heartbeat" in cfg and "appvolumes" not in cfg


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[services.horizon]\nbalance = 'fastest'\n", "services.horizon.balance: 'fastest' is not one of"),
        ("[services.horizon]\nports = [443, 443]\n", "lists a port twice"),
        ("[services.x]\nports = [443]\nvip_property = 'vip.horizon'\n", "port 443 on vip.horizon is taken"),
        ("[ha]\nadvert_interval = 'fast'\n", "ha.advert_interval: expected float"),
        ("[colour]\nred = 1\n", "unknown setting colour"),
        ("[templates]\n'haproxy.cfg.j2' = 'missing.j2'\n", "does not exist"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_bad_profiles_are_refused_clearly(tmp_path, text, fragment):
    path = write_profile(tmp_path, text)
    with pytest.raises(InvalidInput, match=fragment.replace("[", r"\[").replace("(", r"\(")):
        load_profile(path)
    result = CliRunner().invoke(cli, ["properties", "--profile", str(path)])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "Traceback" not in result.output


def test_profile_round_trips_through_json(profile):
    from appliance_agent.profile import Profile

    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_haproxy_authenticates_with_our_hashes(loopback_haproxy):
    """The real consumer of the stats hashes: glibc crypt(3) inside HAProxy."""
    from appliance_agent.shacrypt import sha512_crypt

    port = free_port()
    loopback_haproxy(
        "userlist u\n    user admin password %s\n"
        "frontend stats\n    bind 127.0.0.1:%d\n    stats enable\n    stats uri /stats\n"
        "    acl ok http_auth(u)\n    http-request auth unless ok\n" % (sha512_crypt('Adm1n&<"stats>'), port),
        port,
    )

    def status(password):
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, "http://127.0.0.1:%d/" % port, "admin", password)
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
        try:
            return opener.open("http://127.0.0.1:%d/stats" % port, timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert status('Adm1n&<"stats>') == 200
    assert status("wrong-password") == 401
