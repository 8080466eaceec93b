"""Interrupted and late-failing builds: --out holds the old build entirely or the new one entirely.

Failures are injected at every step of the build (after the step ran, so its
partial files exist), at every rename into --out, as ENOSPC on a tiny tmpfs,
and as real SIGINT/SIGTERM to a running `build-appliance` process. After
each, --out must be exactly the previous good build (same files, same
inodes, same bytes) and no partial or backup file may be left.
"""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from builder import stages
from builder.ova import stage as ova_stage

from .conftest import error_line, leftovers, run, snapshot

CLI = [sys.executable, "-c", "from builder.cli import main; main()"]
FORMATS = ("both", "iso", "ova")
STEPS = ("check_settings", "open_input", "check_packages", "add_rpms", "add_payload", "edit_boot_menus",
         "write_iso", "check_output_iso", "write_build_info", "write_checksums", "publish")
OVA_STEPS = ("write_appliance_ova", "write_appliance_ova_direct")
FAILURES = {
    "enospc": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "ctrl-c": KeyboardInterrupt,
    "bug": lambda: RuntimeError("injected"),
}


def build_args(iso, out, fmt, cache):
    return ["build", "--iso", iso, "--out", out, "--format", fmt, "--checksum", "--cache-dir", cache, "--quiet"]


def assert_refused(code, stderr, failure):
    if failure == "ctrl-c":
        assert code == 1 and "Aborted!" in stderr and "Traceback" not in stderr, stderr
    elif failure == "enospc":
        error_line(code, stderr, "no space left", "free space or choose another --out")
    else:
        # a bug: one line that says so (the traceback only with --debug)
        assert code == 1 and "Traceback (most recent call last)" not in stderr, stderr
        assert stderr.splitlines() == [
            "Error: internal error: RuntimeError: injected (run again with --debug for the traceback)"], stderr


def digests(directory):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


def failing_after(function, failure):
    """`function`, then the failure; for publish, the failure instead (renames fail in the tests below)."""
    def wrapper(*args, **kwargs):
        if function.__name__ != "publish":
            function(*args, **kwargs)
        raise FAILURES[failure]()
    return wrapper


def _step_cases():
    """Every step x format x failure; the default suite runs one failure per step and format (cycled)."""
    cases = []
    for index, (step, fmt) in enumerate((step, fmt) for step in STEPS + OVA_STEPS for fmt in FORMATS
                                        if not (step == "write_iso" and fmt == "ova")
                                        and not (step == "write_appliance_ova" and fmt != "both")
                                        and not (step == "write_appliance_ova_direct" and fmt != "ova")):
        for number, failure in enumerate(FAILURES):
            fast = number == index % len(FAILURES) and (fmt == "both" or step in OVA_STEPS)
            cases.append(pytest.param(step, fmt, failure, id="-".join((step, fmt, failure)),
                                      marks=() if fast else pytest.mark.slow))
    return cases


@pytest.mark.parametrize("step, fmt, failure", _step_cases())
def test_a_failure_after_any_step_leaves_the_previous_build(step, fmt, failure, full_iso, previous_out, tmp_path,
                                                           monkeypatch):
    before, contents = snapshot(previous_out), digests(previous_out)
    module = ova_stage if step in OVA_STEPS else stages
    # stages imports the OVA writers by name: patch the name it calls
    monkeypatch.setattr(stages, step, failing_after(getattr(module, step), failure))
    code, _stdout, stderr = run(*build_args(full_iso, previous_out, fmt, tmp_path / "cache"))
    assert_refused(code, stderr, failure)
    assert snapshot(previous_out) == before and digests(previous_out) == contents
    assert leftovers(previous_out) == []


def replace_calls_into(out, full_iso, fmt, tmp_path, monkeypatch):
    """How many os.replace calls of a successful build land in `out` (a scratch copy is used)."""
    scratch = tmp_path / "count"
    shutil.copytree(out, scratch)
    calls = []
    real = os.replace

    def counting(source, target, *args, **kwargs):
        if os.path.dirname(os.path.abspath(target)) == str(scratch):
            calls.append(target)
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", counting)
    code, _stdout, stderr = run(*build_args(full_iso, scratch, fmt, tmp_path / "cache"))
    monkeypatch.setattr(os, "replace", real)
    assert code == 0, stderr
    shutil.rmtree(scratch)
    return len(calls)


# Renames into --out of a --format both --checksum build over a previous one: the ISO partial the OVA
# writer renames, 4 old files moved aside, 4 new ones moved in.
RENAMES_BOTH = 9


@pytest.mark.parametrize("nth, failure", [
    pytest.param(nth, failure, id="%d-%s" % (nth, failure),
                 marks=() if (nth + index) % 2 == 0 else pytest.mark.slow)
    for nth in range(RENAMES_BOTH) for index, failure in enumerate(("enospc", "ctrl-c"))])
def test_a_failure_at_any_rename_leaves_the_previous_build(nth, failure, full_iso, previous_out, tmp_path,
                                                          monkeypatch):
    if nth == 0:
        assert replace_calls_into(previous_out, full_iso, "both", tmp_path, monkeypatch) == RENAMES_BOTH
    before, contents = snapshot(previous_out), digests(previous_out)
    real = os.replace
    seen = []

    def failing(source, target, *args, **kwargs):
        if os.path.dirname(os.path.abspath(target)) == str(previous_out):
            seen.append(target)
            if len(seen) == nth + 1:
                raise FAILURES[failure]()
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing)
    code, _stdout, stderr = run(*build_args(full_iso, previous_out, "both", tmp_path / "cache"))
    monkeypatch.setattr(os, "replace", real)
    assert_refused(code, stderr, failure)
    assert snapshot(previous_out) == before and digests(previous_out) == contents
    assert leftovers(previous_out) == []


def test_a_successful_build_replaces_every_file_and_leaves_nothing_else(full_iso, previous_out, tmp_path):
    """Over a previous `both --checksum` build, an `iso` build without --checksum leaves only its own files:
    the old OVA and SHA256SUMS would describe other bytes."""
    code, stdout, stderr = run("build", "--iso", full_iso, "--out", previous_out, "--format", "iso",
                               "--cache-dir", tmp_path / "cache", "--quiet")
    assert code == 0, stderr
    assert sorted(path.name for path in previous_out.iterdir()) == ["build-info.json", "photon-lb-1.0.0.iso"]
    info = json.loads((previous_out / "build-info.json").read_text())
    assert [output["file"] for output in info["outputs"]] == ["photon-lb-1.0.0.iso"]
    assert stdout.split() == [str(previous_out / "photon-lb-1.0.0.iso"), str(previous_out / "build-info.json")]


def test_sha256sums_of_a_new_build_checks(full_iso, previous_out, tmp_path):
    code, _stdout, stderr = run(*build_args(full_iso, previous_out, "both", tmp_path / "cache"))
    assert code == 0, stderr
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=previous_out, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert leftovers(previous_out) == []


@pytest.mark.parametrize("fmt", [pytest.param(fmt, marks=() if fmt == "ova" else pytest.mark.slow) for fmt in FORMATS])
def test_a_failed_build_removes_the_out_directory_it_created(fmt, full_iso, tmp_path, monkeypatch):
    monkeypatch.setattr(stages, "write_build_info", failing_after(stages.write_build_info, "enospc"))
    out = tmp_path / "made" / "by" / "build"
    code, _stdout, stderr = run(*build_args(full_iso, out, fmt, tmp_path / "cache"))
    assert_refused(code, stderr, "enospc")
    assert not (tmp_path / "made").exists()


def test_a_failed_build_keeps_an_empty_out_that_was_there(full_iso, tmp_path):
    out = tmp_path / "dist"
    out.mkdir()
    code, _stdout, stderr = run("build", "--iso", tmp_path / "missing.iso", "--out", out)
    error_line(code, stderr, "no such file")
    assert out.is_dir() and list(out.iterdir()) == []


def test_an_output_name_taken_by_a_directory_is_refused_and_kept(full_iso, tmp_path):
    out = tmp_path / "dist"
    (out / "photon-lb-1.0.0.ova").mkdir(parents=True)
    (out / "photon-lb-1.0.0.ova" / "mine.txt").write_text("keep me\n")
    code, _stdout, stderr = run("build", "--iso", full_iso, "--out", out, "--cache-dir", tmp_path / "cache")
    error_line(code, stderr, "photon-lb-1.0.0.ova is a directory", "remove it or choose another --out")
    assert (out / "photon-lb-1.0.0.ova" / "mine.txt").read_text() == "keep me\n"
    assert sorted(path.name for path in out.iterdir()) == ["photon-lb-1.0.0.ova"]


# ---------------------------------------------------------------- a real full disk, real signals

def tmpfs(path, size):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", str(path)], check=True)


def umount(path):
    subprocess.run(["umount", str(path)], check=True)


def free_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


@pytest.mark.parametrize("room", ("none-for-the-ova", "none-for-build-info"))
def test_a_full_disk_leaves_the_previous_build(room, full_iso, good_build, tmp_path):
    """ENOSPC for real: the previous build fits on the tmpfs, the new one's OVA or its metadata does not."""
    mount = tmp_path / "small"
    needed = sum(path.stat().st_size for path in good_build.iterdir())
    tmpfs(mount, needed * 3)
    try:
        out = mount / "dist"
        shutil.copytree(good_build, out)
        before, contents = snapshot(out), digests(out)
        # what the new ISO and OVA take on disk (they have holes: blocks, not sizes)
        iso, ova = ((good_build / name).stat().st_blocks * 512 for name in ("photon-lb-1.0.0.iso", "photon-lb-1.0.0.ova"))
        leave = iso + 64 * 1024 if room == "none-for-the-ova" else iso + ova
        with open(mount / "filler", "wb") as handle:
            handle.write(b"\0" * max(0, free_bytes(mount) - leave))
        code, _stdout, stderr = run(*build_args(full_iso, out, "both", tmp_path / "cache"))
        error_line(code, stderr, "no space left")
        assert snapshot(out) == before and digests(out) == contents
        assert leftovers(out) == []
    finally:
        umount(mount)


def wait_for(path, process, seconds=60):
    """Until `path` exists; not past the build's end (a partial that lived less than a poll was missed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("signum, moment", [
    pytest.param(signum, moment, id="%s-%s" % (signum.name, moment),
                 marks=() if (signum, moment) in ((signal.SIGINT, "ova-partial"), (signal.SIGTERM, "iso-partial"))
                 else pytest.mark.slow)
    for signum in (signal.SIGINT, signal.SIGTERM) for moment in ("iso-partial", "ova-partial", "build-info-partial")])
def test_a_real_signal_leaves_one_whole_build(signum, moment, full_iso, previous_out, tmp_path):
    """Ctrl-C / kill while a partial is being written (or right after): the old build, or the new one, whole."""
    before = digests(previous_out)
    marker = {"iso-partial": ".photon-lb-1.0.0.iso.partial", "ova-partial": ".photon-lb-1.0.0.ova.partial.partial",
              "build-info-partial": ".build-info.json.partial"}[moment]
    process = subprocess.Popen(CLI + [str(arg) for arg in build_args(full_iso, previous_out, "both", tmp_path / "c")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(previous_out / marker, process)
        process.send_signal(signum)
        _stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in stderr
    after = digests(previous_out)
    if process.returncode == 0:  # the signal came after the build
        assert set(after) == set(before)
    else:
        assert process.returncode == 1 and "Aborted!" in stderr, stderr
        assert after == before
    assert leftovers(previous_out) == []
