"""Idempotence, re-apply, all-or-nothing writes and reload-only-what-changed."""

import os

import pytest

from appliance_agent import activate, files, pipeline, render, shacrypt
from appliance_agent.errors import ApplyError, ConfigCheckError

from .conftest import tree_digest

SHADOW = "root:*:19000:0:99999:7:::\nbin:x:19000:0:99999:7:::\n"


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/shadow").write_text(SHADOW)
    os.chmod(tmp_path / "etc/shadow", 0o600)
    return str(tmp_path)


def test_first_run_writes_everything_second_run_nothing(root, make_env, profile):
    env = make_env("MASTER")
    first = pipeline.configure(env, profile, root=root, check=False)
    assert "etc/haproxy/haproxy.cfg" in first.changed and "etc/shadow" in first.changed
    before = tree_digest(root)
    mtimes = {path: os.stat(os.path.join(root, path)).st_mtime_ns for path in before}
    second = pipeline.configure(env, profile, root=root, check=False)
    assert second.changed == []
    assert tree_digest(root) == before
    assert {path: os.stat(os.path.join(root, path)).st_mtime_ns for path in before} == mtimes


def test_root_password_hash_verifies_and_other_users_stay(root, make_env, profile):
    pipeline.configure(make_env("MASTER"), profile, root=root, check=False)
    lines = open(os.path.join(root, "etc/shadow")).read().splitlines()
    fields = lines[0].split(":")
    assert fields[0] == "root" and shacrypt.verify("Sample-root-Passw0rd", fields[1])
    assert fields[4] == "99999"  # no expiry
    assert lines[1] == "bin:x:19000:0:99999:7:::"
    assert oct(os.stat(os.path.join(root, "etc/shadow")).st_mode & 0o777) == "0o600"


def test_changed_property_rewrites_only_what_depends_on_it(root, make_env, profile):
    pipeline.configure(make_env("MASTER"), profile, root=root, check=False)
    result = pipeline.configure(
        make_env("MASTER", {"horizon.servers": "cs1=198.51.100.11,cs2=198.51.100.12,cs3=198.51.100.13"}), profile, root=root, check=False
    )
    assert sorted(result.changed) == ["etc/haproxy/haproxy.cfg", "etc/issue", "var/lib/appliance-agent/state.json"]
    assert "server cs3 198.51.100.13:443 id 3" in open(os.path.join(root, "etc/haproxy/haproxy.cfg")).read()


def test_changed_password_gets_a_new_hash_unchanged_keeps_its_salt(root, make_env, profile):
    pipeline.configure(make_env("MASTER"), profile, root=root, check=False)
    cfg = open(os.path.join(root, "etc/haproxy/haproxy.cfg")).read()
    pipeline.configure(make_env("MASTER", {"stats.admin_password": "an0ther-Secret"}), profile, root=root, check=False)
    new_cfg = open(os.path.join(root, "etc/haproxy/haproxy.cfg")).read()
    admin = lambda text: [line.split()[3] for line in text.splitlines() if line.strip().startswith("user admin ")][0]
    stats = lambda text: [line.split()[3] for line in text.splitlines() if line.strip().startswith("user stats ")][0]
    assert admin(cfg) != admin(new_cfg) and shacrypt.verify("an0ther-Secret", admin(new_cfg))
    assert stats(cfg) == stats(new_cfg)


class FailingReplace:
    """os.replace that fails on the n-th call, as a full disk or an I/O error would."""

    def __init__(self, fail_on):
        self.calls = 0
        self.fail_on = fail_on
        self.real = os.replace

    def __call__(self, source, target):
        self.calls += 1
        if self.calls == self.fail_on:
            raise OSError(28, "No space left on device", target)
        return self.real(source, target)


def test_failure_midway_restores_the_previous_files(root, make_env, profile, monkeypatch):
    pipeline.configure(make_env("MASTER"), profile, root=root, check=False)
    before = tree_digest(root)
    monkeypatch.setattr(files.os, "replace", FailingReplace(fail_on=3))
    with pytest.raises(ApplyError, match="No space left on device.*previous files were kept"):
        pipeline.configure(make_env("MASTER", {"node.ip": "192.0.2.31/24", "ha.peer_ip": "192.0.2.32"}), profile, root=root, check=False)
    assert tree_digest(root) == before  # rolled back, and no temporary file left


def test_failure_on_first_apply_leaves_nothing(tmp_path, make_env, profile, monkeypatch):
    monkeypatch.setattr(files.os, "replace", FailingReplace(fail_on=5))
    with pytest.raises(ApplyError):
        pipeline.configure(make_env("MASTER"), profile, root=str(tmp_path), check=False)
    assert tree_digest(str(tmp_path)) == {}


def test_rejected_config_writes_nothing(root, make_env, profile, monkeypatch, tmp_path_factory):
    """A profile template that HAProxy refuses: the check fails before anything is swapped in."""
    import dataclasses

    from .conftest import require

    require("haproxy")
    pipeline.configure(make_env("MASTER"), profile, root=root, check=False)
    before = tree_digest(root)
    broken = tmp_path_factory.mktemp("tpl") / "haproxy.cfg.j2"
    broken.write_text("{{ header }}\nglobal\n    no-such-keyword {{ s.hostname }}\n")
    bad_profile = dataclasses.replace(profile, templates={"haproxy.cfg.j2": str(broken)})
    with pytest.raises(ConfigCheckError, match="haproxy -c rejected"):
        pipeline.configure(make_env("MASTER", {"node.hostname": "lb09"}), bad_profile, root=root, check=True)
    assert tree_digest(root) == before


def test_profile_template_override_is_used(root, make_env, profile, tmp_path_factory):
    import dataclasses

    override = tmp_path_factory.mktemp("tpl") / "issue.j2"
    override.write_text("Custom banner for {{ s.fqdn }}\n")
    custom = dataclasses.replace(profile, templates={"issue.j2": str(override)})
    pipeline.configure(make_env("MASTER"), custom, root=root, check=False)
    assert open(os.path.join(root, "etc/issue")).read() == "Custom banner for lb01.example.com\n"


class Recorder:
    """Stands in for subprocess.run at the system boundary: records, answers from a table."""

    def __init__(self, active):
        self.calls = []
        self.active = set(active)

    def __call__(self, command, **kwargs):
        self.calls.append(command)
        code = 0
        if command[:3] == ["systemctl", "is-active", "--quiet"]:
            code = 0 if command[3] in self.active else 3
        return type("Done", (), {"returncode": code, "stdout": ""})()


def _changed(root, make_env, profile, overrides):
    pipeline.configure(make_env("MASTER"), profile, root=root, check=False)
    outputs = render.render(
        __import__("appliance_agent.settings", fromlist=["validate"]).validate(
            __import__("appliance_agent.ovfenv", fromlist=["x"]).parse_environment(make_env("MASTER", overrides)), profile
        ),
        pipeline.load_state(root)["hashes"],
    )
    return files.changed_files(root, outputs)


def test_backend_change_reloads_haproxy_only(root, make_env, profile):
    changed = _changed(root, make_env, profile, {"uag.servers": "uag1=198.51.100.31"})
    run = Recorder(active=["haproxy.service", "keepalived.service", "iptables.service", "systemd-networkd.service"])
    reloaded = activate.activate(changed, root, log=lambda line: None, run=run)
    assert reloaded == ["haproxy.service"]
    assert ["systemctl", "reload", "haproxy.service"] in run.calls
    assert not any(call[:2] == ["systemctl", "restart"] and "haproxy" in call[2] for call in run.calls)


def test_vip_change_reloads_keepalived_haproxy_and_firewall(root, make_env, profile):
    changed = _changed(root, make_env, profile, {"vip.uag": "192.0.2.44"})
    run = Recorder(active=["haproxy.service", "keepalived.service", "iptables.service"])
    reloaded = activate.activate(changed, root, log=lambda line: None, run=run)
    assert reloaded == ["iptables.service", "keepalived.service", "haproxy.service"]


def test_nothing_is_reloaded_at_boot_before_the_daemons_run(root, make_env, profile):
    changed = _changed(root, make_env, profile, {"node.hostname": "lb07"})
    run = Recorder(active=[])
    assert activate.activate(changed, root, log=lambda line: None, run=run) == []
    assert ["hostname", "lb07"] in run.calls
