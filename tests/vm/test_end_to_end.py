"""The whole chain on the stand-in Photon (tests/standin), in VMs under TCG.

build --preinstall gives an OVA with an installed disk (both boot partitions) and no ISO; verify
passes on it under SeaBIOS, check by check; a broken MASTER fails verify under OVMF with empty
NVRAM, naming the check, while its BACKUP passes its own; an ISO-carrying OVA verifies too, after
verify installed it the way its VM would in vCenter (the firmware boots the CD's default entry).
An install that installs nothing, or hangs, stops the build with the reason and the console log.

Slow: each install or pair boot takes minutes here. The two failing installs start together in the
background while the preinstall runs (one core each, and the hanging one idles), and are collected
before the pair tests, whose failover timing wants the cores to itself.
"""

import json
import subprocess
import sys

import pytest

from builder.ova.archive import read_ova, verify_ova
from tests.standin import standin_installer_iso

from .conftest import require_qemu

CLI = [sys.executable, "-c", "import sys; from builder.cli import main; sys.exit(main(sys.argv[1:]))"]
INSTALL_LIMIT = 1800
# The stand-in installer reaches its hang 1-2 min after power-on here, three VMs sharing two cores.
HANG_LIMIT = 300
INSTALLED = "appliance-install: OK photon-lb 1.0.0"  # the postinstall's last line, also on the serial port
# A modest VM: the stand-in installs in 1 GiB; one CPU each (two shared cores, several VMs).
PROFILE = '[vm]\nmemory_mb = 1024\ncpus = 1\n'


def cli(*args, timeout=3600):
    return subprocess.run(CLI + [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout)


def errors(result):
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


@pytest.fixture(scope="module")
def profile_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "small.toml"
    path.write_text(PROFILE)
    return path


def build_command(iso, profile, out, *extra):
    return CLI + [str(arg) for arg in ("build", "--iso", iso, "--profile", profile, "--format", "ova",
                                       "--preinstall", *extra, "--out", out)]


@pytest.fixture(scope="module")
def background(tmp_path_factory, photon_standin_root, profile_file):
    """The two builds whose installer misbehaves, started at once in the background (the hanging one
    idles until its time limit) while the preinstall runs. Their tests collect them."""
    require_qemu()
    builds = {}
    for fault, extra in (("skip", ()), ("hang", ("--install-time-limit", HANG_LIMIT))):
        work = tmp_path_factory.mktemp(f"install-{fault}")
        iso = standin_installer_iso(work / "iso", photon_standin_root, fault=fault)
        with open(work / "stdout", "w") as stdout, open(work / "stderr", "w") as stderr:  # no pipe to fill
            builds[fault] = (work, subprocess.Popen(build_command(iso, profile_file, work / "out", *extra),
                                                    stdout=stdout, stderr=stderr))
    yield builds
    for _work, process in builds.values():
        if process.poll() is None:
            process.terminate()  # the build stops its VM and removes its partial outputs
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def finished(background, fault):
    work, process = background[fault]
    process.wait(timeout=HANG_LIMIT + 600)
    result = subprocess.CompletedProcess(process.args, process.returncode, (work / "stdout").read_text(),
                                         (work / "stderr").read_text())
    return work / "out", result


def partition_codes(raw_disk):
    table = subprocess.run(["sgdisk", "-p", raw_disk], capture_output=True, text=True, check=True).stdout
    return [line.split()[5] for line in table.splitlines() if line.strip()[:1].isdigit()], table


@pytest.fixture(scope="module")
def preinstalled(tmp_path_factory, standin_iso, profile_file):
    require_qemu()
    out = tmp_path_factory.mktemp("preinstalled")
    result = subprocess.run(build_command(standin_iso, profile_file, out, "--install-time-limit", INSTALL_LIMIT),
                            capture_output=True, text=True, timeout=INSTALL_LIMIT + 600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_preinstall_gives_an_ova_with_the_installed_disk_and_no_iso(background, preinstalled, tmp_path):
    # `background` first: the other installs run while this one does
    ova = preinstalled / "photon-lb-1.0.0.ova"
    names = [member.name for member in read_ova(ova).members]
    assert names == ["photon-lb-1.0.0.ovf", "photon-lb-1.0.0.mf", "photon-lb-1.0.0-disk1.vmdk"]
    assert verify_ova(ova) == []
    info = json.loads((preinstalled / "build-info.json").read_text())
    install = info["install"]
    assert install["accelerator"] in ("kvm", "tcg") and install["accelerator_reason"]
    assert install["installer"] == "2.7" and install["appliance"] == "photon-lb 1.0.0"
    assert install["seconds"] > 0
    packages = {package["name"]: package["version"] for package in install["packages"]}
    assert "haproxy" in packages and "keepalived" in packages  # the stand-in root's dpkg list
    assert [output["file"] for output in info["outputs"]] == ["photon-lb-1.0.0.ova"]
    disk = next(member for member in read_ova(ova).members if member.name.endswith(".vmdk"))
    assert disk.size < 1024 * 2**20  # the installed stand-in, compressed; the ISO was 600 MB
    vmdk, raw = tmp_path / "disk.vmdk", tmp_path / "disk.raw"
    with open(ova, "rb") as source, open(vmdk, "wb") as target:
        source.seek(disk.offset)
        target.write(source.read(disk.size))
    subprocess.run(["qemu-img", "convert", "-O", "raw", vmdk, raw], check=True)
    codes, table = partition_codes(raw)
    assert codes == ["EF02", "EF00", "8300"], table  # dualboot: BIOS boot, ESP, root


@pytest.mark.slow
def test_an_installer_that_installs_nothing_stops_the_build(background):
    out, result = finished(background, "skip")
    assert result.returncode == 1
    lines = errors(result)
    assert lines[0].startswith("Error: the VM stopped (qemu exit status 0) before the install reported success")
    console = out / "photon-lb-1.0.0-install-console.log"
    assert lines[1] == f"Error: console log of the install VM: {console}"
    assert "injected fault: skip" in console.read_text(errors="replace")
    assert sorted(path.name for path in out.iterdir()) == [console.name]


@pytest.mark.slow
def test_a_hanging_install_meets_the_time_limit(background):
    out, result = finished(background, "hang")
    assert result.returncode == 1
    lines = errors(result)
    assert lines[0].startswith(f"Error: the install did not finish within the time limit of {HANG_LIMIT} s "
                               "(before the install reported")
    console = (out / "photon-lb-1.0.0-install-console.log").read_text(errors="replace")
    assert "injected fault: hang" in console  # it hung in the installer, not before it started


@pytest.mark.slow
def test_verify_passes_on_the_preinstalled_ova_under_seabios(preinstalled, profile_file, tmp_path):
    # The OVA says EFI; the shipped disk must boot under BIOS too (the profile's other firmware). The
    # broken-node run below boots it under OVMF with empty NVRAM.
    result = cli("verify", preinstalled / "photon-lb-1.0.0.ova", "--profile", profile_file, "--firmware", "bios",
                 "--logs", tmp_path)
    report = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert [line.split(":")[0] for line in report[:-1]] == [
        "PASS  agent applied the MASTER node",
        "PASS  HAProxy and keepalived run under systemd on the MASTER node",
        "PASS  agent applied the BACKUP node",
        "PASS  HAProxy and keepalived run under systemd on the BACKUP node",
        "PASS  exactly one node holds the VIPs",
        "PASS  failover when HAProxy stops on the holder",
        "PASS  a broken environment on reboot keeps the last good configuration and says why",
    ]
    assert report[-1].startswith("passed: 7 of 7 checks")


@pytest.mark.slow
def test_verify_fails_naming_the_check_when_a_node_is_broken(tmp_path, preinstalled, profile_file, monkeypatch):
    # The MASTER's environment broken (its peer outside the subnet): its agent refuses it, and verify
    # names that check; the run goes on, reports the others and does not try what needs that node.
    from builder import verify
    from builder.profile import load_profile

    profile = load_profile(profile_file)
    real = verify.environments

    def broken_master(*args, **kwargs):
        documents = real(*args, **kwargs)
        documents["MASTER"] = documents["MASTER-broken"]
        return documents

    monkeypatch.setattr(verify, "environments", broken_master)
    result = verify.verify(preinstalled / "photon-lb-1.0.0.ova", profile, logs=tmp_path / "logs", memory_mib=1024)
    assert not result.passed and result.accelerator.name in ("kvm", "tcg")
    checks = {check.name: check for check in result.checks}
    assert list(checks) == [
        "agent applied the MASTER node",
        "HAProxy and keepalived run under systemd on the MASTER node",
        "agent applied the BACKUP node",
        "HAProxy and keepalived run under systemd on the BACKUP node",
        "exactly one node holds the VIPs",
        "failover when HAProxy stops on the holder",
        "a broken environment on reboot keeps the last good configuration and says why",
    ]
    master = checks["agent applied the MASTER node"]
    assert not master.passed and "refused: ha.peer_ip" in master.detail
    assert checks["agent applied the BACKUP node"].passed  # under OVMF, empty NVRAM: the removable path
    assert checks["exactly one node holds the VIPs"].detail.startswith("BACKUP holds")
    assert checks["failover when HAProxy stops on the holder"].detail.startswith("not tried: the MASTER node")
    assert checks["a broken environment on reboot keeps the last good configuration and says why"].detail.startswith(
        "not tried: the MASTER node was not applied")
    assert result.timings["BACKUP"]["serving_seconds"] is not None


@pytest.mark.slow
def test_an_iso_carrying_ova_is_installed_then_verified(tmp_path, standin_iso, profile_file):
    require_qemu()
    out = tmp_path / "out"
    built = cli("build", "--iso", standin_iso, "--profile", profile_file, "--format", "ova", "--out", out)
    assert built.returncode == 0, built.stderr[-2000:]
    result = cli("verify", out / "photon-lb-1.0.0.ova", "--profile", profile_file, "--logs", tmp_path / "logs",
                 "--install-time-limit", INSTALL_LIMIT)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "the OVA carries the installer ISO; installing it first" in result.stderr
    # booted from its CD by the firmware (the default entry, the installer on tty1), as in vCenter
    assert INSTALLED in (tmp_path / "logs" / "install-console.log").read_text(errors="replace")
    assert result.stdout.splitlines()[-1].startswith("passed: 7 of 7 checks")
