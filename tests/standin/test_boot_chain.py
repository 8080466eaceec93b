"""The fixture initrd's boot chain is the stock one, with real systemd and agetty:
the launcher's whole-string rule decides where the installer runs (VM boots, TCG)."""

import pytest

from tests.standin import iso as standin_iso_module
from tests.standin import qemu

STOCK = "root=/dev/ram0 loglevel=3 photon.media=cdrom ks=cdrom:/isolinux/sample_ks.cfg"
STARTED = "reading kickstart /mnt/media/isolinux/sample_ks.cfg"  # the stand-in installer's first step
ROOT_SHELL = "root@photon:/installer#"  # bash, where the launcher leaves a terminal


@pytest.mark.slow
@pytest.mark.parametrize("consoles, installs", [
    ("console=ttyS0,115200n8", True),                 # the serial port is the one console: installer there
    ("console=ttyS0,115200n8 console=tty0", False),   # console/active reads "tty0 ttyS0": nowhere
])
def test_launcher_rule_with_real_systemd_gettys(tmp_path, photon_standin_root, standin_iso, consoles, installs):
    kernel = standin_iso_module.kernel_from(photon_standin_root, tmp_path)
    initrd = standin_iso_module.standin_initrd_image(photon_standin_root)
    # No disk: a started installer fails at once and, like Photon's, leaves a root shell.
    outcome = qemu.boot(tmp_path, "chain", firmware="bios", disk=None, cdrom=standin_iso,
                        kernel=(kernel, initrd, f"{STOCK} {consoles}"), marker=ROOT_SHELL, seconds=600)
    assert outcome.marker, "no root shell on ttyS0 (the serial getty did not log root in)\n" + outcome.serial[-3000:]
    assert (STARTED in outcome.serial) == installs, outcome.serial[-3000:]
