"""The whole chain on the stand-in, in VMs (TCG): the builder's remastered ISO
installs unattended through the stock boot chain onto an empty disk, and the
installed disk boots under SeaBIOS and under OVMF with empty NVRAM into a node
the first-boot agent configured (its console banner on the serial getty).
"""

import shutil
import subprocess
import sys

import pytest

from tests.standin import qemu

CLI = [sys.executable, "-c", "import sys; from builder.cli import main; sys.exit(main(sys.argv[1:]))"]
DISK_BYTES = 16 * 2**30  # the default profile's disk_gb; sparse
BANNER = "role MASTER, VRRP router id"
INSTALLED = "appliance-install: OK photon-lb 1.0.0"  # the postinstall's last line, also on the serial port


def run(command, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def env_cd(workdir, role):
    """The OVF environment on a CD, as vSphere's ISO transport delivers it."""
    content = workdir / f"env-{role.lower()}"
    content.mkdir()
    run(CLI + ["env-template", "--role", role, "--out", content / "ovf-env.xml"], timeout=60)
    iso = workdir / f"env-{role.lower()}.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-o", iso, content])
    return iso


def describe(outcome):
    tail = "\n".join(outcome.serial.splitlines()[-25:])
    return f"after {outcome.seconds:.0f} s; serial tail:\n{tail}\nVGA console: {outcome.screen}"


@pytest.mark.slow
def test_remastered_standin_installs_and_boots_bios_and_uefi(tmp_path, standin_iso):
    out = tmp_path / "dist"
    run(CLI + ["build", "--iso", standin_iso, "--format", "iso", "--out", out], timeout=600)
    installer_iso = out / "photon-lb-1.0.0.iso"
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as handle:
        handle.truncate(DISK_BYTES)

    install = qemu.boot(tmp_path, "install", firmware="bios", disk=disk, cdrom=installer_iso, boot_cd=True,
                        seconds=1200)
    assert install.exited, "the install did not finish (the VM did not reboot) " + describe(install)
    assert INSTALLED in install.serial, "no install marker on the serial port " + describe(install)
    table = run(["sgdisk", "-p", disk]).stdout
    codes = [line.split()[5] for line in table.splitlines() if line.strip()[:1].isdigit()]
    assert codes == ["EF02", "EF00", "8300"], table  # dualboot: BIOS boot, ESP, root

    env = env_cd(tmp_path, "MASTER")
    for firmware in ("bios", "uefi"):
        copy = tmp_path / f"installed-{firmware}.raw"
        subprocess.run(["cp", "--sparse=always", disk, copy], check=True)  # each boot is a first boot
        booted = qemu.boot(tmp_path, f"boot-{firmware}", firmware=firmware, disk=copy, cdrom=env,
                           marker=BANNER, seconds=900, memory=768)
        assert booted.marker, f"{firmware}: no agent banner on the serial console " + describe(booted)
        copy.unlink()
