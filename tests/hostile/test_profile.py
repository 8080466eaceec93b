"""Hostile and careless profiles: `build` refuses each with one line naming the key and the fix.

Every case runs the real `build` command on the Photon-like fixture ISO into
an --out that holds a previous good build; a refused profile must leave it
exactly as it was, with no partial file, and print no password value. The
accepted cases must build a sample pair whose rendered files have the same
lines as the default profile's (no value can add a line to a config).
"""

import json

import pytest

from builder.profile import check_sample_nodes, load_profile

from .conftest import error_line, leftovers, run, snapshot

LONG = "x" * 10000
BROKEN_HAPROXY = "global\n    no-such-directive yes\n"
BROKEN_KEEPALIVED = "vrrp_instance VI_1 {\n    state NONSENSE\n    interface\n    virtual_router_id 300\n}\nnot_a_keyword {\n"

# (id, profile TOML, {template file: text}, phrases the error line must hold: the key, then the fix)
REFUSED = [
    # 2. trailing newlines and full matches
    ("version-newline", '[appliance]\nversion = "1.0\\n"\n', {}, ["appliance.version", "'1.0\\n'", "e.g. 1.0.0"]),
    ("version-space", '[appliance]\nversion = "1.0 beta"\n', {}, ["appliance.version", "letters, digits"]),
    ("version-slash", '[appliance]\nversion = "1.0/../x"\n', {}, ["appliance.version"]),
    ("version-long", '[appliance]\nversion = "%s"\n' % ("1" * 40), {}, ["appliance.version", "at most 32"]),
    ("version-empty", '[appliance]\nversion = ""\n', {}, ["appliance.version"]),
    ("name-newline", '[appliance]\nname = "lb\\n"\n', {}, ["appliance.name", "'lb\\n'"]),
    ("name-path", '[appliance]\nname = "../evil"\n', {}, ["appliance.name", "starting with a letter or digit"]),
    ("name-long", '[appliance]\nname = "%s"\n' % ("a" * 65), {}, ["appliance.name", "at most 64"]),
    ("name-10k", '[appliance]\nname = "%s"\n' % LONG, {}, ["appliance.name", "(10002 characters)"]),
    ("name-int", '[appliance]\nname = 5\n', {}, ["appliance.name", "expected str"]),
    ("interface-newline", '[network]\ninterface = "eth0\\n"\n', {}, ["network.interface", "like eth0"]),
    ("interface-semicolon", '[network]\ninterface = "eth0;reboot"\n', {}, ["network.interface"]),
    ("interface-long", '[network]\ninterface = "eth0123456789012"\n', {}, ["network.interface"]),
    ("persistence-newline", '[services.horizon]\npersistence = "90m\\n"\n', {}, ["services.horizon.persistence", "like 30s"]),
    ("idle-newline", '[services.horizon]\nidle_timeout = "10h\\n"\n', {}, ["services.horizon.idle_timeout"]),
    ("interval-newline", '[services.horizon.check]\ninterval = "30s\\n"\n', {}, ["services.horizon.check.interval"]),
    ("interval-inject", '[services.horizon.check]\ninterval = "30s\\n    server evil 203.0.113.9:443"\n', {},
     ["services.horizon.check.interval"]),
    ("interval-space", '[services.horizon.check]\ninterval = "30 s"\n', {}, ["services.horizon.check.interval"]),
    ("interval-negative", '[services.horizon.check]\ninterval = "-5s"\n', {}, ["services.horizon.check.interval"]),
    ("interval-unit", '[services.horizon.check]\ninterval = "5w"\n', {}, ["services.horizon.check.interval"]),
    ("uri-newline", '[services.horizon.check]\nuri = "/favicon.ico\\n"\n', {}, ["services.horizon.check.uri", "absolute path"]),
    ("uri-inject", '[services.horizon.check]\nuri = "/x\\nhttp-check send meth GET uri /"\n', {}, ["services.horizon.check.uri"]),
    ("uri-space", '[services.horizon.check]\nuri = "/a b"\n', {}, ["services.horizon.check.uri"]),
    ("uri-relative", '[services.horizon.check]\nuri = "favicon.ico"\n', {}, ["services.horizon.check.uri"]),
    ("uri-long", '[services.horizon.check]\nuri = "/%s"\n' % LONG, {}, ["services.horizon.check.uri", "characters)"]),
    ("method-newline", '[services.horizon.check]\nmethod = "GET\\n"\n', {}, ["services.horizon.check.method", "GET, HEAD, OPTIONS"]),
    ("type-newline", '[services.horizon.check]\ntype = "http\\n"\n', {}, ["services.horizon.check.type", "http or tcp"]),
    ("balance-newline", '[services.horizon]\nbalance = "source\\n"\n', {}, ["services.horizon.balance", "one of"]),
    ("service-name-newline", '[services."web\\n"]\nports = [443]\n', {}, ["services.'web\\n'", "rename the table"]),
    ("service-name-upper", '[services.Web]\nports = [443]\n', {}, ["services.Web", "lower-case"]),
    ("service-name-dot", '[services."a.b"]\nports = [443]\n', {}, ["services.a.b", "lower-case"]),
    ("vip-property-newline", '[services.horizon]\nvip_property = "vip.horizon\\n"\n', {},
     ["services.horizon.vip_property", "property key like"]),
    ("vip-property-one-part", '[services.horizon]\nvip_property = "horizon"\n', {}, ["services.horizon.vip_property"]),
    ("servers-property-space", '[services.horizon]\nservers_property = "horizon servers"\n', {},
     ["services.horizon.servers_property"]),
    # 6. control characters in every string that reaches configs, comments or the form
    ("label-newline", '[services.horizon]\nlabel = "Horizon\\n    bind *:22"\n', {},
     ["services.horizon.label", "control character '\\n'", "one line of printable text"]),
    ("label-cr", '[services.horizon]\nlabel = "Horizon\\r"\n', {}, ["services.horizon.label", "'\\r'"]),
    ("label-tab", '[services.horizon]\nlabel = "Hori\\tzon"\n', {}, ["services.horizon.label", "'\\t'"]),
    ("label-nul", '[services.horizon]\nlabel = "Hori\\u0000zon"\n', {}, ["services.horizon.label", "'\\x00'"]),
    ("label-del", '[services.horizon]\nlabel = "Hori\\u007fzon"\n', {}, ["services.horizon.label"]),
    ("label-nel", '[services.horizon]\nlabel = "Hori\\u0085zon"\n', {}, ["services.horizon.label"]),
    ("label-line-separator", '[services.horizon]\nlabel = "Hori\\u2028zon"\n', {}, ["services.horizon.label"]),
    ("label-paragraph-separator", '[services.horizon]\nlabel = "Hori\\u2029zon"\n', {}, ["services.horizon.label"]),
    ("label-escape", '[services.horizon]\nlabel = "\\u001b[2J"\n', {}, ["services.horizon.label"]),
    ("label-81", '[services.horizon]\nlabel = "%s"\n' % ("L" * 81), {}, ["services.horizon.label", "at most 80"]),
    ("label-10k", '[services.horizon]\nlabel = "%s"\n' % LONG, {}, ["services.horizon.label", "at most 80"]),
    ("label-int", '[services.horizon]\nlabel = 5\n', {}, ["services.horizon.label", "expected str"]),
    ("service-description-newline", '[services.horizon]\ndescription = "a\\nb"\n', {}, ["services.horizon.description"]),
    ("description-newline", '[appliance]\ndescription = "LB\\n  VIP  evil"\n', {}, ["appliance.description"]),
    ("description-10k", '[appliance]\ndescription = "%s"\n' % LONG, {}, ["appliance.description", "at most 1000"]),
    ("vendor-newline", '[appliance]\nvendor = "ACME\\n"\n', {}, ["appliance.vendor"]),
    ("vendor-vt", '[appliance]\nvendor = "ACME\\u000b"\n', {}, ["appliance.vendor"]),
    ("new-service-label-newline", '[services.web]\nports = [443]\nlabel = "Web\\nfrontend x"\n', {}, ["services.web.label"]),
    # 4. appliances that could never configure themselves
    ("service-stats", '[services.stats]\nports = [443]\n', {}, ["services.stats", "rename the service"]),
    ("service-health", '[services.health]\nports = [443]\n', {}, ["services.health", "rename the service"]),
    ("service-peers", '[services.lbpair]\nports = [443]\n', {}, ["services.lbpair", "rename the service"]),
    ("service-userlist", '[services.stats-users]\nports = [443]\n', {}, ["services.stats-users"]),
    ("service-http-collision", '[services.horizon-http]\nports = [8080]\n', {},
     ["horizon-http", "collides", "rename one of them"]),
    ("service-backend-collision", '[services.uag-443]\nports = [9443]\n', {}, ["uag-443", "collides"]),
    ("peers-port-70000", '[ha]\npeers_port = 70000\n', {}, ["ha.peers_port", "70000", "1 to 65535"]),
    ("peers-port-0", '[ha]\npeers_port = 0\n', {}, ["ha.peers_port", "1 to 65535"]),
    ("stats-port-0", '[stats]\nport = 0\n', {}, ["stats.port", "1 to 65535"]),
    ("stats-port-65536", '[stats]\nport = 65536\n', {}, ["stats.port"]),
    ("health-port-negative", '[ha]\nhealth_port = -1\n', {}, ["ha.health_port"]),
    ("stats-port-string", '[stats]\nport = "8404"\n', {}, ["stats.port", "expected int"]),
    ("stats-port-bool", '[stats]\nport = true\n', {}, ["stats.port", "expected int"]),
    ("stats-port-huge", '[stats]\nport = 99999999999999999999\n', {}, ["stats.port", "1 to 65535"]),
    ("ports-same", '[stats]\nport = 10000\n', {}, ["must differ", "its own port"]),
    ("service-port-0", '[services.horizon]\nports = [0]\n', {}, ["services.horizon.ports", "1-65535"]),
    ("service-port-70000", '[services.horizon]\nports = [70000]\n', {}, ["services.horizon.ports"]),
    ("service-ports-empty", '[services.horizon]\nports = []\n', {}, ["services.horizon.ports"]),
    ("service-ports-twice", '[services.horizon]\nports = [443, 443]\n', {}, ["services.horizon.ports", "each once"]),
    ("service-port-string", '[services.horizon]\nports = ["443"]\n', {}, ["services.horizon.ports"]),
    ("service-ports-missing", '[services.web]\nlabel = "Web"\n', {}, ["services.web", "missing 'ports'"]),
    ("interval-0s", '[services.horizon.check]\ninterval = "0s"\n', {}, ["services.horizon.check.interval", "outside 1ms to 24d"]),
    ("interval-0ms", '[services.horizon.check]\ninterval = "0ms"\n', {}, ["services.horizon.check.interval"]),
    ("interval-25d", '[services.horizon.check]\ninterval = "25d"\n', {}, ["services.horizon.check.interval", "24d"]),
    ("interval-overflow", '[services.horizon.check]\ninterval = "9999999999s"\n', {}, ["services.horizon.check.interval"]),
    ("idle-0", '[services.horizon]\nidle_timeout = "0s"\n', {}, ["services.horizon.idle_timeout"]),
    ("persistence-0", '[services.horizon]\npersistence = "0m"\n', {}, ["services.horizon.persistence"]),
    ("expect-99", '[services.horizon.check]\nexpect_status = 99\n', {}, ["services.horizon.check.expect_status", "100 to 599"]),
    ("fall-0", '[services.horizon.check]\nfall = 0\n', {}, ["services.horizon.check", "1 to 100"]),
    ("advert-nan", '[ha]\nadvert_interval = nan\n', {}, ["ha.advert_interval", "0.01-255"]),
    ("advert-inf", '[ha]\nadvert_interval = inf\n', {}, ["ha.advert_interval"]),
    ("advert-0", '[ha]\nadvert_interval = 0\n', {}, ["ha.advert_interval"]),
    ("enabled-string", '[services.horizon]\nenabled = "no"\n', {}, ["services.horizon.enabled", "expected bool"]),
    # unique keys across the whole form; no password value in any message
    ("servers-is-admin-password", '[services.horizon]\nservers_property = "stats.admin_password"\n', {},
     ["services.horizon.servers_property", "appliance's own properties", "horizon.servers"]),
    ("servers-is-root-password", '[services.horizon]\nservers_property = "node.root_password"\n', {},
     ["services.horizon.servers_property"]),
    ("vip-is-node-ip", '[services.horizon]\nvip_property = "node.ip"\n', {}, ["services.horizon.vip_property", "vip.horizon"]),
    ("vip-is-management", '[services.horizon]\nvip_property = "vip.management"\n', {}, ["services.horizon.vip_property"]),
    ("servers-is-peer", '[services.horizon]\nservers_property = "ha.peer_ip"\n', {}, ["services.horizon.servers_property"]),
    ("servers-is-other-servers", '[services.horizon]\nservers_property = "uag.servers"\n', {},
     ["servers_property", "uag.servers", "its own"]),
    ("servers-is-a-vip", '[services.horizon]\nservers_property = "vip.uag"\n', {}, ["servers_property", "VIP property"]),
    ("vip-is-other-servers", '[services.horizon]\nvip_property = "uag.servers"\n', {}, ["uag.servers"]),
    # shapes and names
    ("unknown-key-newline", '[services.horizon]\n"x\\ny" = 1\n', {}, ["unknown setting 'x\\ny'", "remove it"]),
    ("unknown-table", '[colour]\nred = 1\n', {}, ["unknown setting colour", "remove it"]),
    ("services-not-table", 'services = 5\n', {}, ["profile.services", "expected dict"]),
    ("service-not-table", '[services]\nhorizon = 5\n', {}, ["services.horizon", "expected a table"]),
    ("appliance-not-table", 'appliance = "x"\n', {}, ["profile.appliance"]),
    ("check-not-table", '[services.horizon]\ncheck = "GET"\n', {}, ["services.horizon.check", "expected dict"]),
    ("not-toml", 'this is = not toml [', {}, ["not valid TOML"]),
    ("not-utf8", b"[appliance]\nname = \"\xff\"\n", {}, ["cannot be read"]),
    ("vm-cpus-0", '[vm]\ncpus = 0\n', {}, ["vm.cpus", "1 to 128"]),
    ("vm-firmware-newline", '[vm]\nfirmware = "efi\\n"\n', {}, ["vm.firmware"]),
    ("vm-firmware-10k", '[vm]\nfirmware = "%s"\n' % LONG, {}, ["vm.firmware", "characters)"]),
    ("vm-unknown-newline", '[vm]\n"a\\nb" = 1\n', {}, ["[vm]: unknown setting 'a\\nb'", "remove it"]),
    ("photon-package-10k", '[photon]\npackages = ["%s!"]\n' % LONG, {}, ["photon.packages", "characters)"]),
    ("photon-disk-newline", '[photon]\ndisk = "/dev/sda\\n"\n', {}, ["photon.disk", "/dev/sda"]),
    ("photon-package-newline", '[photon]\npackages = ["haproxy\\n"]\n', {}, ["photon.packages"]),
    ("root-hash-newline", '[photon]\nroot_password_hash = "$6$abc$%s\\n"\n' % ("a" * 86), {}, ["photon.root_password_hash", "mkpasswd"]),
    # templates that cannot configure a node
    ("template-syntax", '[templates]\n"haproxy.cfg.j2" = "t.j2"\n', {"t.j2": "{% if %}\n"},
     ["template haproxy.cfg.j2 (line 1)", "fix the template"]),
    ("template-undefined", '[templates]\n"issue.j2" = "t.j2"\n', {"t.j2": "line\n{{ no_such_name }}\n"},
     ["template issue.j2 (line 2)", "'no_such_name' is undefined", "fix the template"]),
    ("template-attribute", '[templates]\n"hosts.j2" = "t.j2"\n', {"t.j2": "{{ s.no_such_field }}\n"},
     ["template hosts.j2", "no_such_field", "fix the template"]),
    ("template-runtime", '[templates]\n"issue.j2" = "t.j2"\n', {"t.j2": "a\nb\n{{ 1 / 0 }}\n"},
     ["template issue.j2 (line 3)", "ZeroDivisionError", "fix the template"]),
    ("template-include-missing", '[templates]\n"issue.j2" = "t.j2"\n', {"t.j2": '{% include "nowhere.j2" %}\n'},
     ["nowhere.j2", "fix the template"]),
    ("template-not-utf8", '[templates]\n"issue.j2" = "t.j2"\n', {"t.j2": b"\xff\xfe\n"}, ["template issue.j2 cannot be read", "save it as UTF-8"]),
    ("template-unknown-name", '[templates]\n"nothere.j2" = "t.j2"\n', {"t.j2": "x\n"}, ["templates.nothere.j2", "known:"]),
    ("template-missing-file", '[templates]\n"issue.j2" = "missing.j2"\n', {}, ["templates.issue.j2", "does not exist"]),
    ("template-not-string", '[templates]\n"issue.j2" = 5\n', {}, ["templates.issue.j2", "file name"]),
    ("template-invalid-haproxy", '[templates]\n"haproxy.cfg.j2" = "t.j2"\n', {"t.j2": BROKEN_HAPROXY},
     ["haproxy -c rejected", "no-such-directive"]),
    ("template-invalid-keepalived", '[templates]\n"keepalived.conf.j2" = "t.j2"\n', {"t.j2": BROKEN_KEEPALIVED},
     ["keepalived --config-test rejected"]),
    ("template-haproxy-bad-port", '[templates]\n"haproxy.cfg.j2" = "t.j2"\n',
     {"t.j2": "frontend f\n    bind 127.0.0.1:99999\n"}, ["haproxy -c rejected"]),
]
NEEDS = {"template-invalid-haproxy": "haproxy", "template-haproxy-bad-port": "haproxy",
         "template-invalid-keepalived": "keepalived"}
SAMPLE_SECRETS = ("Adm1n", "Sample-root-Passw0rd", "Read-only-stats1")


def write_profile(directory, text, files):
    path = directory / "profile.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    for name, content in files.items():
        (directory / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("case_id, text, files, phrases", REFUSED, ids=[case[0] for case in REFUSED])
def test_build_refuses_the_profile(case_id, text, files, phrases, full_iso, previous_out, tmp_path):
    import shutil

    if case_id in NEEDS and shutil.which(NEEDS[case_id]) is None:
        pytest.skip("needs %s (installed by scripts/test)" % NEEDS[case_id])
    before = snapshot(previous_out)
    profile = write_profile(tmp_path, text, files)
    code, stdout, stderr = run("build", "--iso", full_iso, "--profile", profile, "--out", previous_out,
                               "--cache-dir", tmp_path / "cache")
    error_line(code, stderr, *phrases)
    assert stdout == ""
    assert not any(secret in stderr for secret in SAMPLE_SECRETS), stderr
    assert snapshot(previous_out) == before
    assert leftovers(previous_out) == []


# Odd but valid values: they build, and the rendered files have exactly the default profile's lines.
ACCEPTED = [
    ("label-quotes", '[services.horizon]\nlabel = "Horizon \\"prod\\" & <lab>"\n'),
    ("label-hash", '[services.horizon]\nlabel = "Horizon # not a comment end"\n'),
    ("label-unicode", '[services.horizon]\nlabel = "Horizon – Büro 東京"\n'),
    ("label-backslash", '[services.horizon]\nlabel = "Horizon \\\\n literally"\n'),
    ("label-jinja", '[services.horizon]\nlabel = "{{ 7 * 7 }} {%% raw %%}"\n'),
    ("label-80", '[services.horizon]\nlabel = "%s"\n' % ("L" * 80)),
    ("description-1000", '[appliance]\ndescription = "%s"\n' % ("d" * 1000)),
    ("version-semver", '[appliance]\nversion = "2.0.0-rc.1+build.5"\n'),
    ("interval-24d", '[services.horizon.check]\ninterval = "24d"\n'),
    ("ports-edge", '[stats]\nport = 65535\n[ha]\npeers_port = 1\n'),
]


def rendered_line_counts(profile, role="MASTER"):
    """{path: line count} of a sample node rendered with `profile` (the agent's own pipeline)."""
    import tempfile
    from pathlib import Path

    from appliance_agent import pipeline
    from appliance_agent.ovfenv import build_environment
    from appliance_agent.sample import sample_properties

    with tempfile.TemporaryDirectory() as root:
        result = pipeline.configure(build_environment(sample_properties(profile, role)), profile, root=root,
                                    check=False, activate=False, log=lambda line: None)
        return {path: len(Path(root, path).read_bytes().splitlines()) for path in result.changed}


@pytest.mark.parametrize("case_id, text", ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_odd_but_valid_values_build_and_add_no_line(case_id, text, tmp_path):
    profile = load_profile(write_profile(tmp_path, text, {}))
    check_sample_nodes(profile)  # haproxy -c and keepalived --config-test where installed
    assert rendered_line_counts(profile) == rendered_line_counts(load_profile(None))


def test_a_refused_profile_leaves_no_new_out_directory(full_iso, tmp_path):
    profile = write_profile(tmp_path, '[appliance]\nversion = "1.0\\n"\n', {})
    out = tmp_path / "new" / "dist"
    code, _stdout, stderr = run("build", "--iso", full_iso, "--profile", profile, "--out", out)
    error_line(code, stderr, "appliance.version")
    assert not (tmp_path / "new").exists()


def test_the_default_profile_passes_the_sample_check_and_says_so(tmp_path):
    lines = []
    check_sample_nodes(load_profile(None), log=lines.append)
    import shutil

    if shutil.which("haproxy"):
        assert "profile: sample nodes: haproxy -c: ok" in lines
    assert json.dumps(lines)  # plain strings, one per check


def test_a_full_scratch_directory_is_not_blamed_on_the_profile(tmp_path, monkeypatch):
    """ENOSPC while writing the sample node: say where, not 'fix the templates'."""
    from appliance_agent import files

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "replace_all", full)
    from builder.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot be configured in .*No space left on device.*set TMPDIR"):
        check_sample_nodes(load_profile(None))
