import hashlib
import os
import shutil

import pytest

from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties
from builder.profile import load_profile


@pytest.fixture(scope="session")
def profile():
    return load_profile(None)


@pytest.fixture
def make_env(profile):
    """make_env(role, **{"key": value}) -> OVF environment bytes for the default profile."""

    def make(role="MASTER", overrides=None, drop=()):
        values = sample_properties(profile, role)
        values.update(overrides or {})
        for key in drop:
            values.pop(key, None)
        return build_environment(values)

    return make


def tree_digest(root):
    """{relative path: (sha256, mode)} of every file under root."""
    result = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                result[os.path.relpath(path, root)] = (hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mode)
    return result


def require(tool):
    if not shutil.which(tool):
        if os.environ.get("CI"):
            pytest.fail("%s is not installed; scripts/test installs it" % tool)
        pytest.skip("%s is not installed (scripts/test installs it)" % tool)


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HAPROXY_DEFAULTS = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"


@pytest.fixture
def loopback_haproxy(tmp_path):
    """start(sections, port): a real HAProxy on 127.0.0.1:port, up when it returns; stopped after the test."""
    import socket
    import subprocess
    import time

    require("haproxy")
    processes = []

    def start(sections, port):
        cfg = tmp_path / ("haproxy-%d.cfg" % port)
        cfg.write_text(HAPROXY_DEFAULTS + sections)
        process = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return process
            except OSError:
                time.sleep(0.1)
        pytest.fail("haproxy did not listen on 127.0.0.1:%d within 10 s" % port)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def good_root(tmp_path_factory, profile):
    """A root configured by the agent from the good MASTER values of tests/agent/hostile.py (once per session)."""
    import contextlib
    import io
    import json

    from appliance_agent import main as agent_main

    from .hostile import environment

    directory = tmp_path_factory.mktemp("good-root")
    (directory / "profile.json").write_text(json.dumps(profile.to_dict()))
    (directory / "env.xml").write_bytes(environment(profile))
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = agent_main.main(["apply", "--env", str(directory / "env.xml"), "--root", str(directory / "root"),
                                  "--profile", str(directory / "profile.json")])
    assert status == 0, output.getvalue()
    return str(directory / "root")


@pytest.fixture
def node(tmp_path, profile, capsys, good_root):
    """A copy of the good root with the profile JSON: node.apply(env_bytes) runs the agent on it."""
    from .hostile import make_node

    return make_node(tmp_path, profile, capsys, good_root)


@pytest.fixture(scope="session")
def good_counts(good_root):
    from .hostile import Node

    node = Node(os.path.dirname(good_root), None, None)
    return node.line_counts()
