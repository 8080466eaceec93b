"""Shared helpers of the hostile-input suites: a good build to spoil, and the one-line-error check.

Builds run in-process through click's CliRunner (exit status and stderr as a
user sees them, and monkeypatching reaches the build's code); the fixture
ISOs are the Photon-like ones of tests/iso.
"""

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import cli
from tests.iso.conftest import full_iso, photon_rpms  # noqa: F401  (shared session fixtures)

MAX_LINE = 400  # no message echoes a long value whole


def run(*args):
    """`build-appliance ARGS` in-process: (exit status, stdout, stderr)."""
    result = CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("the CLI raised %r" % (result.exception,)) from result.exception
    return result.exit_code, result.stdout, result.stderr


def error_line(code, stderr, *phrases, status=1):
    """The single 'Error: ' line of a refused command, checked: status, no traceback, short, with `phrases`."""
    assert code == status, (code, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert len(line) <= MAX_LINE, line
    for phrase in phrases:
        assert phrase in line, (phrase, line)
    return line


def snapshot(directory: Path) -> dict:
    """What a reader of `directory` sees: every name with its inode, size and mtime (hidden files too)."""
    if not directory.exists():
        return {}
    found = {}
    for path in sorted(directory.iterdir()):
        info = path.lstat()
        found[path.name] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return found


def leftovers(directory: Path) -> list:
    """Partial or backup files a build must never leave behind."""
    if not directory.exists():
        return []
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


@pytest.fixture(scope="session")
def good_build(tmp_path_factory, full_iso):  # noqa: F811
    """A complete `--format both --checksum` build of the default profile, to copy as a previous --out."""
    out = tmp_path_factory.mktemp("good") / "dist"
    code, _stdout, stderr = run("build", "--iso", full_iso, "--out", out, "--format", "both", "--checksum",
                                "--cache-dir", tmp_path_factory.mktemp("cache"), "--quiet")
    assert code == 0, stderr
    return out


@pytest.fixture
def previous_out(good_build, tmp_path):
    """A copy of the good build (hard links: instant) in a fresh --out."""
    out = tmp_path / "dist"
    shutil.copytree(good_build, out, copy_function=os.link)
    return out
