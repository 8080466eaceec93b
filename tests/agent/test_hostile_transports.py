"""Hostile bytes and media on the agent's transports: VMware Tools guestinfo and the OVF CD.

The agent runs as it does at boot (no --env): a stand-in `vmware-rpctool` on
PATH prints what guestinfo holds (a real executable, so the real subprocess
boundary and its bytes are exercised), and CD devices are image files in a
stand-in /dev directory. Every case checks the exit status, one clear line,
no traceback, the good root unchanged and no temporary file.
"""

import functools
import os
import shutil
import struct
import subprocess
import threading
import time

import pytest

from appliance_agent import main as agent_main
from appliance_agent import transport

from .hostile import assert_accepted, assert_clean_failure, environment, temp_files

SECTOR = 2048
RPCTOOL = """#!/bin/sh
cat '{out}'
cat '{err}' >&2
exit {status}
"""


# --- a small ISO 9660 writer (ECMA-119 8.4 and 9.1), so each field can be made wrong on purpose ---

def directory_record(name, extent, size, flags=0, length=None, name_length=None):
    name = name.encode("ascii") if isinstance(name, str) else name
    record_length = 33 + len(name) + (1 - len(name) % 2)
    record = bytearray(record_length)
    record[0] = record_length if length is None else length
    _both_endian(record, 2, extent)
    _both_endian(record, 10, size)
    record[25] = flags
    struct.pack_into("<H", record, 28, 1)
    struct.pack_into(">H", record, 30, 1)
    record[32] = len(name) if name_length is None else name_length
    record[33 : 33 + len(name)] = name
    return bytes(record)


def _both_endian(buffer, offset, value):
    """ECMA-119 7.3.3: a 32-bit number little-endian then big-endian."""
    struct.pack_into("<I", buffer, offset, value)
    struct.pack_into(">I", buffer, offset + 4, value)


def iso_image(records=None, files=None, root_extent=18, root_size=SECTOR, descriptor_type=1, sectors=None):
    """An image: PVD at 16, terminator at 17, root directory at `root_extent`, files at their extents.

    `records` is the root directory's content (bytes); `files` maps an extent to bytes.
    """
    files = dict(files or {})
    records = records if records is not None else (
        directory_record(b"\x00", root_extent, root_size, flags=2) + directory_record(b"\x01", root_extent, root_size, flags=2)
    )
    end = max([root_extent + 1] + [extent + (len(data) + SECTOR - 1) // SECTOR for extent, data in files.items()])
    image = bytearray((sectors or end) * SECTOR if sectors is None else sectors * SECTOR)
    if len(image) < end * SECTOR:
        image.extend(bytes(end * SECTOR - len(image)))
    descriptor = bytearray(SECTOR)
    descriptor[0] = descriptor_type
    descriptor[1:6] = b"CD001"
    descriptor[6] = 1
    descriptor[156 : 156 + 34] = directory_record(b"\x00", root_extent, root_size, flags=2)
    image[16 * SECTOR : 17 * SECTOR] = descriptor
    image[17 * SECTOR : 17 * SECTOR + 7] = b"\xffCD001\x01"
    image[root_extent * SECTOR : root_extent * SECTOR + len(records)] = records
    for extent, data in files.items():
        image[extent * SECTOR : extent * SECTOR + len(data)] = data
    if sectors is not None:
        del image[sectors * SECTOR :]
    return bytes(image)


def dots():
    return directory_record(b"\x00", 18, SECTOR, flags=2) + directory_record(b"\x01", 18, SECTOR, flags=2)


def cd_with(data, name="OVF-ENV.XML;1", **record):
    return iso_image(dots() + directory_record(name, 20, len(data), **record), {20: data})


@pytest.fixture
def boot(node, tmp_path, monkeypatch):
    """boot(guestinfo=..., cds=[...]) runs the agent as at boot with those transports."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dev = tmp_path / "dev"
    dev.mkdir()
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setattr(agent_main, "read_environment", functools.partial(transport.read_environment, dev_dir=str(dev)))
    settles = []
    monkeypatch.setattr(transport, "udev_settle", lambda: settles.append(time.monotonic()))

    def run(guestinfo=None, status=0, stderr=b"", cds=(), extra=()):
        for tool in ("vmware-rpctool", "vmtoolsd"):
            if (bin_dir / tool).exists():
                (bin_dir / tool).unlink()
        if guestinfo is not None or status:
            (tmp_path / "gi.out").write_bytes(guestinfo or b"")
            (tmp_path / "gi.err").write_bytes(stderr)
            script = bin_dir / "vmware-rpctool"
            script.write_text(RPCTOOL.format(out=tmp_path / "gi.out", err=tmp_path / "gi.err", status=status))
            script.chmod(0o755)
        for entry in os.listdir(str(dev)):
            path = dev / entry
            shutil.rmtree(str(path)) if path.is_dir() and not path.is_symlink() else path.unlink()
        for index, image in enumerate(cds):
            if image == "dir":
                (dev / ("sr%d" % index)).mkdir()
            elif image == "dangling":
                (dev / ("sr%d" % index)).symlink_to(tmp_path / "nothing")
            else:
                (dev / ("sr%d" % index)).write_bytes(image)
        return node.apply(None, extra=extra)

    run.dev = dev
    run.settles = settles
    return run


def _good(profile):
    return environment(profile)


def _doctype_utf16(profile):
    text = environment(profile).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    head, sep, rest = text.partition("?>")
    return (head + sep + '<!DOCTYPE x [<!ENTITY a "b">]>' + rest).encode("utf-16")


def _doctype_after_comment(profile):
    text = environment(profile).decode()
    head, sep, rest = text.partition("?>")
    return (head + sep + "<!--" + "c" * 6000 + "--><!DOCTYPE x>" + rest).encode()


def _not_utf8(profile):
    return environment(profile).replace(b"lb01", b"lb\xff1")


def _latin1(profile):
    return environment(profile).decode().replace("example.com", "exämple.com").encode("latin-1")


# guestinfo cases refused: (id, make(profile) -> bytes, fix fragment)
GUESTINFO_REFUSED = [
    ("not-utf8", _not_utf8, "not UTF-8 text (byte 0xff"),
    ("latin1-undeclared", _latin1, "not UTF-8"),
    ("doctype-utf16", _doctype_utf16, "DOCTYPE"),
    ("doctype-after-comment", _doctype_after_comment, "DOCTYPE"),
    ("garbage", lambda profile: b"hello world", "not well-formed"),
    ("truncated", lambda profile: environment(profile)[:700], "not well-formed"),
    ("junk-after-document", lambda profile: environment(profile) + b"<x/>", "not well-formed"),
    ("nul-bytes", lambda profile: environment(profile).replace(b"</oe:Environment>", b"\0\0</oe:Environment>"), "not well-formed"),
    ("over-1-mib", lambda profile: environment(profile) + b" " * (1024 * 1024) + b"x", "larger than 1 MiB"),
    ("vip-given-twice", lambda profile: environment(profile).replace(
        b"</oe:PropertySection>", b'<oe:Property oe:key="vip.horizon" oe:value=""/></oe:PropertySection>'), "given twice"),
    ("not-an-environment", lambda profile: b'<?xml version="1.0"?><Envelope/>', "not an OVF environment"),
    ("utf16-not-utf8-inside", lambda profile: b"\xff\xfe" + b"<\x00\x00\xd8", "not well-formed"),
]


@pytest.mark.parametrize("make, fix", [case[1:] for case in GUESTINFO_REFUSED], ids=[case[0] for case in GUESTINFO_REFUSED])
def test_guestinfo_refused(boot, node, profile, make, fix):
    """(bug: non-UTF-8 bytes were a UnicodeDecodeError traceback at every boot)."""
    before = node.digest()
    run = boot(guestinfo=make(profile))
    assert_clean_failure(run, node, before, "OVF environment" if "MiB" not in fix else "guestinfo", fix)
    assert not boot.settles, "no CD wait when guestinfo answered"


GUESTINFO_ACCEPTED = [
    ("good", _good),
    ("utf16-bom", lambda profile: environment(profile).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")),
    ("utf8-bom", lambda profile: b"\xef\xbb\xbf" + environment(profile)),
    ("trailing-newlines", lambda profile: environment(profile) + b"\n\n\n"),
    ("crlf", lambda profile: environment(profile).replace(b"\n", b"\r\n")),
]


@pytest.mark.parametrize("make", [case[1] for case in GUESTINFO_ACCEPTED], ids=[case[0] for case in GUESTINFO_ACCEPTED])
def test_guestinfo_accepted(boot, node, profile, good_counts, make):
    run = boot(guestinfo=make(profile))
    assert_accepted(run, node, good_counts)
    assert "reading properties from VMware Tools guestinfo.ovfEnv" in run.out
    assert "0 file(s) changed" in run.out


# guestinfo has nothing: (id, stdout, status, stderr, line expected on the console or "")
GUESTINFO_ABSENT = [
    ("no-value-found", b"No value found\n", 1, b"", ""),
    ("empty-exit-0", b"", 0, b"", ""),
    ("blank-exit-0", b"  \n\n", 0, b"", ""),
    ("rpc-failure-non-utf8-stderr", b"", 2, b"rpc \xff\xfe failed\nforged: line", "vmware-rpctool exited with 2: rpc"),
    ("rpc-failure-long-stderr", b"", 3, b"e" * 5000, "vmware-rpctool exited with 3"),
]


@pytest.mark.parametrize("out, status, err, logged", [case[1:] for case in GUESTINFO_ABSENT], ids=[case[0] for case in GUESTINFO_ABSENT])
def test_guestinfo_absent_keeps_a_configured_node(boot, node, out, status, err, logged):
    before = node.digest()
    run = boot(guestinfo=out, status=status, stderr=err)
    assert run.status == 0 and "keeping the current configuration" in run.out, run.everything
    assert "Traceback" not in run.everything and "internal error" not in run.everything
    if logged:
        lines = [line for line in run.out.splitlines() if logged in line]
        assert len(lines) == 1 and len(lines[0]) < 300, run.out
    assert not any(line.startswith("forged") for line in run.everything.splitlines())
    assert node.digest() == before and temp_files(node.root) == []


def _directory(*records):
    return dots() + b"".join(records)


def _cd_cases(profile):
    env = environment(profile)
    big = b"x" * (transport.MAX_ENV_SIZE + 1)
    second_sector = dots() + bytes(SECTOR - len(dots())) + directory_record("OVF_ENV.XML;1", 21, len(env))
    return {
        # refused: the environment on the disc is bad (exit 1, the node keeps its configuration)
        "env-not-utf8": (cd_with(_not_utf8(profile)), 1, "not UTF-8"),
        "env-latin1": (cd_with(_latin1(profile)), 1, "not UTF-8"),
        "env-doctype-utf16": (cd_with(_doctype_utf16(profile)), 1, "DOCTYPE"),
        "env-doctype-after-comment": (cd_with(_doctype_after_comment(profile)), 1, "DOCTYPE"),
        "env-empty-file": (cd_with(b""), 1, "not well-formed"),
        "env-points-at-descriptor": (iso_image(_directory(directory_record("OVF-ENV.XML", 16, SECTOR))), 1, "not"),
        # malformed media: one line naming the device, then no environment (bug: IndexError/struct.error)
        "record-shorter-than-header": (iso_image(_directory(directory_record("OVF-ENV.XML", 20, len(env), length=20)), {20: env}), 0, "malformed"),
        "record-past-directory-end": (iso_image(_directory(directory_record("OVF-ENV.XML", 20, len(env), length=200)), {20: env}, root_size=len(dots()) + 60), 0, "malformed"),
        "name-longer-than-record": (iso_image(_directory(directory_record("OVF-ENV.XML", 20, len(env), name_length=90)), {20: env}), 0, "malformed"),
        "file-beyond-disc-end": (iso_image(_directory(directory_record("OVF-ENV.XML", 9000, len(env)))), 0, "beyond the end"),
        "file-over-1-mib": (iso_image(_directory(directory_record("OVF-ENV.XML", 20, len(big))), {20: big}), 0, "larger than 1 MiB"),
        "root-directory-beyond-end": (iso_image(root_extent=18, root_size=SECTOR, sectors=18), 0, "outside the disc"),
        "root-directory-extent-huge": (_patched_root(iso_image(), extent=0xFFFFFF00), 0, "outside the disc"),
        "root-directory-too-small": (_patched_root(iso_image(), size=10), 0, "outside the disc"),
        "record-at-last-byte": (iso_image(_directory(directory_record("OVF-ENV.XML", 20, len(env))), {20: env}, root_size=len(dots()) + 1), 0, "malformed"),
        # not a disc with an environment: nothing said, no environment
        "truncated-in-descriptor": (iso_image()[: 16 * SECTOR + 100], 0, ""),
        "zeros": (bytes(20 * SECTOR), 0, ""),
        "empty-device": (b"", 0, ""),
        "supplementary-descriptor-only": (iso_image(descriptor_type=2), 0, ""),
        "env-flagged-as-directory": (iso_image(_directory(directory_record("OVF-ENV.XML", 20, len(env), flags=2)), {20: env}), 0, ""),
        "other-files-only": (iso_image(_directory(directory_record("README.TXT;1", 20, 5)), {20: b"hello"}), 0, ""),
        # accepted
        "good": (cd_with(env), "ok", ""),
        "good-underscore-name": (cd_with(env, name="OVF_ENV.XML;1"), "ok", ""),
        "good-lowercase-name": (cd_with(env, name="ovf-env.xml"), "ok", ""),
        "good-in-second-sector": (iso_image(second_sector, {21: env}, root_size=2 * SECTOR), "ok", ""),
    }


def _patched_root(image, extent=None, size=None):
    """The image with the PVD's root directory record pointing elsewhere."""
    image = bytearray(image)
    offset = 16 * SECTOR + 156
    if extent is not None:
        _both_endian(image, offset + 2, extent)
    if size is not None:
        _both_endian(image, offset + 10, size)
    return bytes(image)


CD_IDS = sorted(_cd_cases(__import__("builder.profile", fromlist=["load_profile"]).load_profile(None)))


@pytest.mark.parametrize("case", CD_IDS)
def test_cd(boot, node, profile, good_counts, case):
    image, outcome, fix = _cd_cases(profile)[case]
    before = node.digest()
    run = boot(cds=[image])
    assert "Traceback" not in run.everything and "internal error" not in run.everything, run.everything
    if outcome == "ok":
        assert_accepted(run, node, good_counts)
        assert "reading properties from ovf-env.xml on a CD" in run.out
        return
    if outcome == 1:
        assert_clean_failure(run, node, before, "OVF environment", fix)
        return
    assert run.status == 0 and "keeping the current configuration" in run.out, run.everything
    about_device = [line for line in run.everything.splitlines() if str(boot.dev / "sr0") in line]
    if fix:
        assert len(about_device) == 1 and fix in about_device[0] and "skipping this disc" in about_device[0], run.everything
    else:
        assert about_device == [], run.everything
    assert node.digest() == before and temp_files(node.root) == []


@pytest.mark.parametrize("case", ["record-past-directory-end", "root-directory-beyond-end", "file-beyond-disc-end"])
def test_malformed_cd_on_a_new_node_says_no_environment(boot, node, profile, case):
    os.unlink(os.path.join(node.root, "var/lib/appliance-agent/state.json"))
    before = node.digest()
    run = boot(cds=[_cd_cases(profile)[case][0]])
    assert_clean_failure(run, node, before, "OVF environment", "appliance-agent apply --env FILE")


@pytest.mark.parametrize("first", ["dir", "dangling", "malformed", "zeros"])
def test_a_bad_first_device_does_not_hide_the_second(boot, node, profile, good_counts, first):
    image = {"malformed": _cd_cases(profile)["record-past-directory-end"][0], "zeros": bytes(40960)}.get(first, first)
    run = boot(cds=[image, cd_with(environment(profile))])
    assert_accepted(run, node, good_counts)
    assert "OVF environment found on %s" % (boot.dev / "sr1") in run.out


def test_xorriso_disc_with_a_damaged_root_record(boot, node, profile, tmp_path):
    """A real mkisofs image whose PVD root record points past the end: one line, the node keeps its files."""
    from .conftest import require

    require("xorriso")
    content = tmp_path / "content"
    content.mkdir()
    (content / "ovf-env.xml").write_bytes(environment(profile))
    iso = tmp_path / "env.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(iso), str(content)], check=True)
    good = iso.read_bytes()
    assert transport.read_cdrom(devices=[str(iso)]) == environment(profile)
    before = node.digest()
    run = boot(cds=[_patched_root(good, extent=len(good) // SECTOR + 100)])
    assert run.status == 0 and "outside the disc" in run.out and "Traceback" not in run.everything
    assert node.digest() == before


# --- a CD that shows up late -------------------------------------------------------------------

def _appear_later(path, data, delay):
    def later():
        time.sleep(delay)
        temp = str(path) + ".part"
        with open(temp, "wb") as handle:
            handle.write(data)
        os.rename(temp, str(path))  # a device node appears whole

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    return thread


def test_late_cd_is_waited_for(boot, node, profile, good_counts):
    """No guestinfo and no /dev/sr* yet: udev settles, then the agent polls until the CD appears (bug: gave up at once)."""
    thread = _appear_later(boot.dev / "sr0", cd_with(environment(profile)), 1.5)
    started = time.monotonic()
    run = boot(extra=["--cd-wait", "8"])
    thread.join(10)
    assert_accepted(run, node, good_counts)
    assert "reading properties from ovf-env.xml on a CD" in run.out
    assert "waiting up to 8 s for a CD" in run.out
    assert len(boot.settles) == 1 and boot.settles[0] - started < 1.0
    assert time.monotonic() - started >= 1.4


def test_late_cd_changes_the_configuration_when_it_arrives(boot, node, profile):
    """The same on a node whose CD carries new values: they are applied, not the old files kept."""
    thread = _appear_later(boot.dev / "sr0", cd_with(environment(profile, {"node.hostname": "lb09"})), 1.0)
    run = boot(extra=["--cd-wait", "8"])
    thread.join(10)
    assert run.status == 0 and "wrote /etc/hostname" in run.out, run.everything
    assert open(os.path.join(node.root, "etc/hostname")).read() == "lb09\n"


def test_no_cd_ever_is_a_bounded_wait(boot, node):
    before = node.digest()
    started = time.monotonic()
    run = boot(extra=["--cd-wait", "1"])
    elapsed = time.monotonic() - started
    assert run.status == 0 and "keeping the current configuration" in run.out
    assert "no CD device appeared within 1 s" in run.out
    assert 0.9 <= elapsed < 5 and len(boot.settles) == 1
    assert node.digest() == before


def test_cd_present_at_once_needs_no_wait(boot, node, profile, good_counts):
    run = boot(cds=[cd_with(environment(profile))], extra=["--cd-wait", "8"])
    assert_accepted(run, node, good_counts)
    assert boot.settles == [] and "waiting" not in run.out


def test_guestinfo_answer_skips_the_cd_wait(boot, node, profile, good_counts):
    started = time.monotonic()
    run = boot(guestinfo=environment(profile), extra=["--cd-wait", "8"])
    assert_accepted(run, node, good_counts)
    assert boot.settles == [] and time.monotonic() - started < 5


def test_drive_without_medium_is_polled(monkeypatch, tmp_path, profile):
    """A drive that answers ENOMEDIUM at first (the medium follows the drive) is read again."""
    import errno

    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "sr0").write_bytes(cd_with(environment(profile)))
    real_open = open
    calls = []

    def flaky_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("sr0"):
            calls.append(path)
            if len(calls) < 3:
                raise OSError(errno.ENOMEDIUM, "No medium found", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", flaky_open)
    logged = []
    data = transport.read_cdrom(log=logged.append, dev_dir=str(dev), wait=5, settle=lambda: None)
    assert data == environment(profile) and len(calls) == 3
    assert sum("No medium found" in line for line in logged) == 2


def test_unit_starts_after_udev_coldplug(repo_root):
    """appliance-agent.service: after udev's coldplug trigger, so the agent's udevadm settle waits for /dev/sr*."""
    unit = (repo_root / "overlays/usr/lib/systemd/system/appliance-agent.service").read_text()
    after = [line for line in unit.splitlines() if line.startswith("After=")]
    assert len(after) == 1
    for name in ("local-fs.target", "systemd-udevd.service", "systemd-udev-trigger.service"):
        assert name in after[0].split("=", 1)[1].split()
    assert "systemd-udev-settle" not in after[0]
    analyzer = shutil.which("systemd-analyze")
    if analyzer:
        result = subprocess.run([analyzer, "verify", "--man=no", str(repo_root / "overlays/usr/lib/systemd/system/appliance-agent.service")],
                                capture_output=True, text=True)
        problems = [line for line in result.stderr.splitlines() if "appliance-agent.service" in line and "Command /usr/bin" not in line
                    and "not found" not in line and "Failed to" not in line]
        assert problems == [], result.stderr
