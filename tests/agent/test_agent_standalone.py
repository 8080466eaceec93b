"""The agent as the appliance runs it: its own python3, no builder, profile from JSON."""

import json
import shutil
import os
import subprocess
import sys

import pytest

from .conftest import tree_digest

SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "scripts")


def run_agent(*args, cwd):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.path.abspath(SCRIPTS)}
    return subprocess.run([sys.executable, "-m", "appliance_agent"] + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture
def baked(tmp_path, profile, make_env):
    (tmp_path / "profile.json").write_text(json.dumps(profile.to_dict()))
    (tmp_path / "env.xml").write_bytes(make_env("BACKUP"))
    return tmp_path


def test_agent_applies_from_an_env_file(baked):
    result = run_agent("apply", "--env", "env.xml", "--root", "root", "--profile", "profile.json", cwd=baked)
    assert result.returncode == 0, result.stderr
    assert "BACKUP node configured" in result.stdout
    assert (baked / "root/etc/keepalived/keepalived.conf").exists()
    again = run_agent("apply", "--env", "env.xml", "--root", "root", "--profile", "profile.json", cwd=baked)
    assert "0 file(s) changed" in again.stdout


def test_agent_never_imports_the_builder(baked):
    code = "import sys, runpy; sys.argv=['x','--version']\ntry:\n runpy.run_module('appliance_agent', run_name='__main__')\nexcept SystemExit: pass\nprint(sorted(m for m in sys.modules if m.startswith(('builder','click','pycdlib'))))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": os.path.abspath(SCRIPTS)})
    assert result.stdout.strip().endswith("[]"), result.stdout + result.stderr


def test_bad_property_keeps_config_and_says_why(baked, make_env):
    assert run_agent("apply", "--env", "env.xml", "--root", "root", "--profile", "profile.json", cwd=baked).returncode == 0
    before = tree_digest(str(baked / "root"))
    (baked / "bad.xml").write_bytes(make_env("BACKUP", {"ha.vrid": "300", "stats.admin_password": "x"}))
    result = run_agent("apply", "--env", "bad.xml", "--root", "root", "--profile", "profile.json", cwd=baked)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("appliance-agent: ERROR: ha.vrid: ") and "1 to 255" in errors[0]
    assert errors[1].startswith("appliance-agent: ERROR: stats.admin_password: ")
    assert "previous configuration stays in place" in errors[-1]
    assert "Traceback" not in result.stderr and "x" not in errors[1].split(": ", 2)[2].split()[0]
    assert tree_digest(str(baked / "root")) == before


def test_no_environment_keeps_a_configured_node(baked):
    # No vmtoolsd and no CD here: the transports find nothing.
    first = run_agent("apply", "--root", "root", "--profile", "profile.json", "--cd-wait", "0", cwd=baked)
    assert first.returncode == 1 and "no OVF environment found" in first.stderr
    run_agent("apply", "--env", "env.xml", "--root", "root", "--profile", "profile.json", cwd=baked)
    later = run_agent("apply", "--root", "root", "--profile", "profile.json", "--cd-wait", "0", cwd=baked)
    assert later.returncode == 0 and "keeping the current configuration" in later.stdout


def test_agent_code_stays_within_python_3_7(repo_root):
    """Photon 3 runs the agent on python 3.7; vermin reads the minimum version the code needs."""
    result = subprocess.run(
        [shutil.which("vermin") or "vermin", "--no-tips", "--violations", "-t=3.7-", "--eval-annotations",
         str(repo_root / "scripts/appliance_agent"), str(repo_root / "overlays/usr/bin/appliance-agent")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_photon3_jinja2_renders_the_same_files(baked, repo_root):
    """Photon 3 ships jinja2 2.10; scripts/test puts that version in .cache/jinja2-2.10."""
    old = repo_root / ".cache/jinja2-2.10"
    if not (old / "jinja2/__init__.py").exists():
        if os.environ.get("CI"):
            pytest.fail("jinja2 2.10 missing: scripts/test installs it into .cache/jinja2-2.10")
        pytest.skip("jinja2 2.10 not installed in .cache/jinja2-2.10 (scripts/test does it)")
    assert run_agent("apply", "--env", "env.xml", "--root", "new", "--profile", "profile.json", "--no-check", cwd=baked).returncode == 0
    # Same state (hence same password hashes) and the node's certificate for the old-jinja2 run.
    shutil.copytree(baked / "new/var", baked / "old/var")
    shutil.copytree(baked / "new/etc/haproxy/certs", baked / "old/etc/haproxy/certs")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": "%s:%s" % (old, os.path.abspath(SCRIPTS)), "PYTHONWARNINGS": "ignore"}
    probe = subprocess.run([sys.executable, "-c", "import jinja2; print(jinja2.__version__)"], capture_output=True, text=True, env=env)
    assert probe.stdout.strip() == "2.10.3"
    result = subprocess.run(
        [sys.executable, "-m", "appliance_agent", "apply", "--env", "env.xml", "--root", "old", "--profile", "profile.json", "--no-check"],
        capture_output=True, text=True, cwd=baked, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert tree_digest(str(baked / "old")) == tree_digest(str(baked / "new"))
