"""Boot the built ISO in qemu with no key pressed: under SeaBIOS and OVMF the installer must
start, on tty1 (the VM console), with the kickstart. The stock ISO must not (BIOS).

The fixture's initrd is tests/bootchain.py: a stock Photon initrd's boot chain (gettys by
systemd's rule, root autologin, the launcher's terminal rule) with a stand-in installer
that reports on the serial port where it runs. qemu runs under TCG: the same on every CI
machine, KVM or not.
"""

import pytest

from tests import bootchain

from . import fixtures
from .conftest import require

# TCG on a 2-core machine: SeaBIOS + isolinux reaches the installer in ~15 s, OVMF + GRUB in ~30 s.
BOOT_BOUND = 180


@pytest.fixture(scope="module", params=["5.0 full", "4.0 minimal + rpm-dir"])
def built_iso(request, tmp_path_factory, full_iso, minimal_iso, lb_rpm_dir):
    from .test_build import build

    out = tmp_path_factory.mktemp("boot")
    if request.param == "5.0 full":
        return build(full_iso, out)
    return build(minimal_iso, out, "--rpm-dir", lb_rpm_dir)


@pytest.mark.slow
@pytest.mark.parametrize("firmware", ["bios", "efi"])
def test_built_iso_starts_the_installer_on_tty1_with_the_kickstart(built_iso, tmp_path, firmware):
    require("qemu-system-x86_64")
    started = fixtures.boot_installer(built_iso, tmp_path, firmware=firmware, seconds=BOOT_BOUND)
    report = started.report
    assert started.tty is not None, (
        f"{firmware}: the installer did not start (console/active: {report.find(bootchain.ACTIVE_MARKER)!r}, "
        f"gettys: {report.gettys}, root shells: {report.root_shells}, {report.seconds:.0f} s); serial log in {tmp_path}")
    assert started.tty == "/dev/tty1"
    assert "ks=cdrom:/appliance/ks.json" in started.cmdline
    assert any(word.startswith("photon.media=") for word in started.cmdline)
    assert not any(word.startswith("console=") for word in started.cmdline)
    assert started.args.startswith("-i iso -o ")
    assert report.gettys == ["tty1"]


@pytest.mark.slow
def test_stock_iso_waits_at_the_bios_menu(full_iso, tmp_path):
    # The control: stock isolinux has `timeout 0`, so with no key pressed nothing boots.
    require("qemu-system-x86_64")
    started = fixtures.boot_installer(full_iso, tmp_path, firmware="bios", seconds=25)
    assert started.tty is None and started.report.gettys is None, started.report.lines
