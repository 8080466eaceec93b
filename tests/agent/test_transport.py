"""OVF environment transports: VMware Tools and the ISO-9660 CD, read without mounting."""

import shutil
import subprocess

import pytest

from appliance_agent import transport
from appliance_agent.ovfenv import parse_environment


class Run:
    def __init__(self, code, out=b"", err=b""):
        self.result = type("R", (), {"returncode": code, "stdout": out, "stderr": err})()
        self.calls = []

    def __call__(self, command, **kwargs):
        self.calls.append(command)
        return self.result


@pytest.fixture
def tools_present(monkeypatch):
    monkeypatch.setattr(transport.shutil, "which", lambda name: "/usr/bin/" + name)


def test_guestinfo_value(tools_present, make_env):
    env = make_env("MASTER")
    assert transport.read_guestinfo(run=Run(0, env)) == env.strip()


def test_guestinfo_absent_is_quiet(tools_present):
    logged = []
    assert transport.read_guestinfo(log=logged.append, run=Run(1, b"No value found")) is None
    assert logged == []


def test_guestinfo_failure_is_logged_then_next_tool(tools_present):
    logged = []
    run = Run(2, b"", b"rpc channel failed")
    assert transport.read_guestinfo(log=logged.append, run=run) is None
    assert len(run.calls) == 2 and "rpc channel failed" in logged[0]


@pytest.mark.parametrize("name", ["ovf-env.xml", "OVF_ENV.XML"])
def test_cdrom_iso9660_without_mount(tmp_path, make_env, name):
    if not shutil.which("xorriso"):
        pytest.skip("xorriso is not installed (scripts/test installs it)")
    content = tmp_path / "content"
    content.mkdir()
    (content / "readme.txt").write_text("other file\n" * 300)
    (content / name).write_bytes(make_env("BACKUP"))
    iso = tmp_path / "ovf-env.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(iso), str(content)], check=True)
    text = transport.read_cdrom(devices=[str(iso)])
    assert parse_environment(text)["node.role"] == "BACKUP"


def test_cdrom_other_disc_is_skipped(tmp_path):
    if not shutil.which("xorriso"):
        pytest.skip("xorriso is not installed (scripts/test installs it)")
    content = tmp_path / "c"
    content.mkdir()
    (content / "isolinux.cfg").write_text("x")
    iso = tmp_path / "installer.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(iso), str(content)], check=True)
    not_iso = tmp_path / "zero"
    not_iso.write_bytes(b"\0" * 70000)
    assert transport.read_cdrom(devices=[str(not_iso), str(iso), str(tmp_path / "missing")]) is None
