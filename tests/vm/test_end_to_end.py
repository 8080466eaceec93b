"""The whole chain on the stand-in Photon (tests/standin), in VMs under TCG: build --preinstall gives an
OVA with an installed disk and no ISO; verify passes on it, check by check; an install that installs
nothing, or hangs, stops the build with the reason and the console log; a broken node fails verify,
naming the check. Slow: each install or pair boot takes minutes here.
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


@pytest.fixture(scope="module")
def preinstalled(tmp_path_factory, standin_iso, profile_file):
    require_qemu()
    out = tmp_path_factory.mktemp("preinstalled")
    result = cli("build", "--iso", standin_iso, "--profile", profile_file, "--format", "ova", "--preinstall",
                 "--install-time-limit", INSTALL_LIMIT, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_preinstall_gives_an_ova_with_the_installed_disk_and_no_iso(preinstalled):
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


@pytest.mark.slow
def test_verify_passes_on_the_preinstalled_ova(preinstalled, profile_file, tmp_path):
    result = cli("verify", preinstalled / "photon-lb-1.0.0.ova", "--profile", profile_file, "--logs", tmp_path)
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
def test_an_installer_that_installs_nothing_stops_the_build(tmp_path, photon_standin_root, profile_file):
    require_qemu()
    iso = standin_installer_iso(tmp_path / "iso", photon_standin_root, fault="skip")
    result = cli("build", "--iso", iso, "--profile", profile_file, "--format", "ova", "--preinstall",
                 "--out", tmp_path / "out")
    assert result.returncode == 1
    lines = errors(result)
    assert lines[0].startswith("Error: the VM stopped (qemu exit status 0) before the install reported success")
    console = tmp_path / "out" / "photon-lb-1.0.0-install-console.log"
    assert lines[1] == f"Error: console log of the install VM: {console}"
    assert "injected fault: skip" in console.read_text(errors="replace")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [console.name]


@pytest.mark.slow
def test_a_hanging_install_meets_the_time_limit(tmp_path, photon_standin_root, profile_file):
    require_qemu()
    iso = standin_installer_iso(tmp_path / "iso", photon_standin_root, fault="hang")
    result = cli("build", "--iso", iso, "--profile", profile_file, "--format", "ova", "--preinstall",
                 "--install-time-limit", 420, "--out", tmp_path / "out")
    assert result.returncode == 1
    lines = errors(result)
    assert lines[0].startswith("Error: the install did not finish within the time limit of 420 s "
                               "(before the install reported")
    console = (tmp_path / "out" / "photon-lb-1.0.0-install-console.log").read_text(errors="replace")
    assert "injected fault: hang" in console  # it hung in the installer, not before it started


@pytest.mark.slow
def test_an_iso_carrying_ova_is_installed_then_verified(tmp_path, standin_iso, profile_file):
    require_qemu()
    out = tmp_path / "out"
    built = cli("build", "--iso", standin_iso, "--profile", profile_file, "--format", "ova", "--out", out)
    assert built.returncode == 0, built.stderr[-2000:]
    result = cli("verify", out / "photon-lb-1.0.0.ova", "--profile", profile_file, "--logs", tmp_path / "logs")
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "the OVA carries the installer ISO; installing it first" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("passed: 7 of 7 checks")


@pytest.mark.slow
def test_verify_fails_naming_the_check_when_a_node_is_broken(tmp_path, preinstalled, profile_file, monkeypatch):
    # The BACKUP's environment broken (its peer outside the subnet): its agent refuses it, and
    # verify names that check; the run goes on and reports the others.
    from appliance_agent.ovfenv import build_environment
    from appliance_agent.sample import sample_properties
    from builder import verify
    from builder.profile import load_profile

    profile = load_profile(profile_file)
    real = verify.environments

    def broken_backup(*args, **kwargs):
        documents = real(*args, **kwargs)
        values = sample_properties(profile, "BACKUP")
        values.update({"appliance.selftest": "drill", "ha.peer_ip": verify.BROKEN_PEER})
        documents["BACKUP"] = build_environment(values)
        return documents

    monkeypatch.setattr(verify, "environments", broken_backup)
    result = verify.verify(preinstalled / "photon-lb-1.0.0.ova", profile, logs=tmp_path / "logs", memory_mib=1024)
    assert not result.passed
    failed = {check.name: check.detail for check in result.checks if not check.passed}
    assert "agent applied the BACKUP node" in failed
    assert "refused: ha.peer_ip" in failed["agent applied the BACKUP node"]
    assert next(check for check in result.checks if check.name == "agent applied the MASTER node").passed
