"""The payload tar: deterministic, modes kept, and self-sufficient: the agent inside it configures a node."""

import io
import json
import subprocess
import sys
import tarfile

from appliance_agent.sample import sample_properties
from appliance_agent.ovfenv import build_environment

from builder.iso.payload import AGENT_DIR, PROFILE_PATH, payload_files, payload_tar
from builder.resources import agent_package_dir
from builder.profile import load_profile

FACTS = {"appliance": "photon-lb", "version": "1.0.0", "photon_release": "5.0", "profile_sha256": "x"}


def make_tar(profile=None, mtime=1700000000):
    return payload_tar(payload_files(profile or load_profile(), release_facts=FACTS), mtime=mtime)


def test_payload_is_deterministic_ustar_owned_by_root():
    data = make_tar()
    assert data == make_tar()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert all(member.uid == 0 and member.gid == 0 and member.mtime == 1700000000 for member in members)
    modes = {member.name: member.mode for member in members}
    assert modes["usr/bin/appliance-agent"] == 0o755
    assert modes["usr/libexec/appliance-agent/check-haproxy"] == 0o755
    assert modes["usr/lib/systemd/system/appliance-agent.service"] == 0o644
    assert modes["etc/appliance"] == 0o755
    assert "usr" not in modes and "etc" not in modes  # system directories are left alone
    assert f"{AGENT_DIR}/templates/haproxy.cfg.j2" in modes
    assert not any("__pycache__" in name for name in modes)


def test_template_override_travels_with_the_profile(tmp_path):
    (tmp_path / "my-haproxy.j2").write_text("# mine\n")
    (tmp_path / "p.toml").write_text('[templates]\n"haproxy.cfg.j2" = "my-haproxy.j2"\n')
    with tarfile.open(fileobj=io.BytesIO(make_tar(load_profile(tmp_path / "p.toml")))) as tar:
        profile = json.load(tar.extractfile(PROFILE_PATH))
        assert tar.extractfile("etc/appliance/templates/haproxy.cfg.j2").read() == b"# mine\n"
    assert profile["templates"] == {"haproxy.cfg.j2": "/etc/appliance/templates/haproxy.cfg.j2"}


def test_unpacked_agent_configures_a_node_with_the_baked_profile(tmp_path):
    unpacked = tmp_path / "appliance"
    with tarfile.open(fileobj=io.BytesIO(make_tar())) as tar:
        tar.extractall(unpacked)
    env = tmp_path / "env.xml"
    env.write_bytes(build_environment(sample_properties(load_profile(), "MASTER")))
    root = tmp_path / "root"
    root.mkdir()
    code = (
        "import sys; sys.path.insert(0, %r); import appliance_agent; "
        "assert appliance_agent.__file__.startswith(%r), appliance_agent.__file__; "
        "from appliance_agent.main import main; sys.exit(main(sys.argv[1:]))"
    ) % (str(unpacked / "usr/lib/appliance-agent"), str(unpacked))
    result = subprocess.run(
        [sys.executable, "-c", code, "apply", "--env", str(env), "--root", str(root),
         "--profile", str(unpacked / PROFILE_PATH), "--no-check", "--no-activate"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "bind 192.0.2.21:443" in (root / "etc/haproxy/haproxy.cfg").read_text()


def test_haproxy_gets_descriptors_for_its_maxconn():
    """The systemd drop-in's LimitNOFILE covers two sockets per connection of haproxy.cfg's maxconn."""
    import configparser
    import re

    from builder.resources import data_dir

    data = make_tar()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        drop_in = tar.extractfile("etc/systemd/system/haproxy.service.d/appliance.conf").read().decode()
    assert "etc/systemd/system/haproxy.service.d" in names
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(drop_in)
    limit = int(unit["Service"]["LimitNOFILE"])
    template = (agent_package_dir() / "templates" / "haproxy.cfg.j2").read_text()
    maxconn = int(re.search(r"^global\n(?:[ \t].*\n|\n)*?[ \t]+maxconn (\d+)$", template, re.M).group(1))
    assert limit >= 2 * maxconn + 1000, (limit, maxconn)
    assert data_dir("overlays").joinpath("etc/systemd/system/haproxy.service.d/appliance.conf").is_file()
