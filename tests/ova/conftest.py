"""The OVA tests build from the same Photon-like fixture ISO as the ISO tests."""

import subprocess
import sys

import pytest

from tests.iso.conftest import full_iso, photon_rpms  # noqa: F401  (shared session fixtures)

CLI = [sys.executable, "-c", "from builder.cli import main; main()"]


def run_cli(*args):
    return subprocess.run(CLI + [str(arg) for arg in args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def built_ova(tmp_path_factory, full_iso):  # noqa: F811
    out = tmp_path_factory.mktemp("ova")
    result = run_cli("build", "--iso", full_iso, "--out", out, "--format", "both", "--checksum")
    assert result.returncode == 0, result.stderr
    return out / "photon-lb-1.0.0.ova"
