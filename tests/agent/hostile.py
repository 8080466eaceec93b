"""Shared harness of the table-driven hostile-input tests (values, XML, transports).

Every case runs the agent's real entry point (appliance_agent.main.main) on a
copy of a good, already configured root and checks what issue 14 asks of it:
the exit status, one clear error line naming the key and the fix, no
traceback, the root unchanged, no temporary file; and for accepted values,
that no rendered file gained a line (nothing injected).
"""

import base64
import json
import os
import shutil
import struct

from appliance_agent import main as agent_main
from appliance_agent.files import TEMP_SUFFIX
from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties

from .conftest import tree_digest

ERROR_PREFIX = "appliance-agent: ERROR: "
LOG_PREFIX = "appliance-agent: "
MAX_LINE = 500


def ssh_string(data):
    return struct.pack(">I", len(data)) + data


def ssh_key(kind="ssh-ed25519", fields=None, comment="admin@example.com", seed=1):
    """A public key line with a well-formed blob (what ssh-keygen writes), or chosen fields."""
    if fields is None:
        body = bytes((seed + i) % 256 for i in range(32))
        fields = {
            "ssh-ed25519": [body],
            "ssh-rsa": [b"\x01\x00\x01", b"\x00" + bytes(range(1, 256)) + body],
            "ecdsa-sha2-nistp256": [b"nistp256", b"\x04" + body + body],
            "ecdsa-sha2-nistp384": [b"nistp384", b"\x04" + body * 3],
            "sk-ssh-ed25519@openssh.com": [body, b"ssh:"],
            "sk-ecdsa-sha2-nistp256@openssh.com": [b"nistp256", b"\x04" + body + body, b"ssh:"],
        }[kind]
    blob = ssh_string(kind.encode()) + b"".join(ssh_string(field) for field in fields)
    line = "%s %s" % (kind, base64.b64encode(blob).decode())
    return line + (" " + comment if comment else "")


KEY1 = ssh_key(seed=1, comment="k1@example.com")
KEY2 = ssh_key(seed=2, comment="k2@example.com")

# The good node every case starts from: the sample MASTER with an SSH key.
GOOD = {"node.ssh_key": KEY1}


def good_values(profile, overrides=None, drop=()):
    values = sample_properties(profile, "MASTER")
    values.update(GOOD)
    values.update(overrides or {})
    for key in drop:
        values.pop(key, None)
    return values


class Run:
    """One run of the agent: exit status and its console lines."""

    def __init__(self, status, out, err):
        self.status = status
        self.out = out
        self.err = err

    @property
    def errors(self):
        return [line[len(ERROR_PREFIX):] for line in self.err.splitlines() if line.startswith(ERROR_PREFIX)]

    @property
    def problems(self):
        """Error lines other than the closing 'previous configuration stays' line."""
        return [line for line in self.errors if "previous configuration stays in place" not in line]

    @property
    def everything(self):
        return self.out + self.err


class Node:
    """A configured root, the profile JSON and a way to run the agent on them."""

    def __init__(self, directory, profile, capsys):
        self.directory = directory
        self.profile = profile
        self.capsys = capsys
        self.root = os.path.join(directory, "root")
        self.profile_json = os.path.join(directory, "profile.json")

    def write_profile(self, profile=None):
        with open(self.profile_json, "w") as handle:
            json.dump((profile or self.profile).to_dict(), handle)

    def apply(self, env=None, check=False, extra=()):
        """Run `appliance-agent apply` in-process; env is bytes (written to a file) or None (transports)."""
        argv = ["apply", "--root", self.root, "--profile", self.profile_json]
        if env is None:
            argv += ["--cd-wait", "0"]
        else:
            path = os.path.join(self.directory, "env.xml")
            with open(path, "wb") as handle:
                handle.write(env)
            argv += ["--env", path]
        if not check:
            argv.append("--no-check")
        self.capsys.readouterr()
        status = agent_main.main(argv + list(extra))
        out, err = self.capsys.readouterr()
        return Run(status, out, err)

    def digest(self):
        return tree_digest(self.root)

    def line_counts(self):
        counts = {}
        for directory, _, names in os.walk(self.root):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    data = handle.read()
                # A PEM's base64 grows with the names it carries; what could be injected is a block.
                unit = b"-----BEGIN " if name.endswith(".pem") else b"\n"
                counts[os.path.relpath(path, self.root)] = data.count(unit)
        return counts


def make_node(tmp_path, profile, capsys, template_root):
    """A copy of the good configured root (rendered once per session into template_root)."""
    node = Node(str(tmp_path), profile, capsys)
    node.write_profile()
    shutil.copytree(template_root, node.root, symlinks=True)
    return node


def temp_files(root):
    found = []
    for directory, _, names in os.walk(root):
        found += [os.path.join(directory, name) for name in names if name.endswith(TEMP_SUFFIX)]
    return found


def assert_clean_failure(run, node, before, key, fix, status=1, secret=None):
    """Refused: status, one line naming `key` with `fix`, no traceback, root unchanged, no temp."""
    assert run.status == status, run.everything
    assert "Traceback" not in run.everything and "internal error" not in run.everything, run.everything
    problems = run.problems
    assert len(problems) == 1, problems
    line = problems[0]
    assert key in line.split(":", 1)[0] or key in line, line
    assert fix in line, line
    for text_line in run.everything.splitlines():
        assert len(text_line) <= MAX_LINE, "line of %d characters: %s..." % (len(text_line), text_line[:80])
    if secret:
        assert secret not in run.everything
    assert node.digest() == before, "the previous good root changed"
    assert temp_files(node.root) == []


def assert_accepted(run, node, baseline_counts, markers=()):
    """Accepted: status 0, no traceback, no temp, and no rendered file gained a line."""
    assert run.status == 0, run.everything
    assert "Traceback" not in run.everything and "internal error" not in run.everything, run.everything
    assert temp_files(node.root) == []
    counts = node.line_counts()
    assert set(counts) == set(baseline_counts), set(counts) ^ set(baseline_counts)
    for path, count in counts.items():
        assert count <= baseline_counts[path], "%s gained %d line(s)" % (path, count - baseline_counts[path])
    for directory, _, names in os.walk(node.root):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                content = handle.read()
            for marker in markers:
                assert marker.encode() not in content, "%s reached %s" % (marker, name)


def environment(profile, overrides=None, drop=()):
    return build_environment(good_values(profile, overrides, drop))
