"""Boot the built ISO in qemu with no key pressed: SeaBIOS and OVMF must both start the
installer kernel with the kickstart on its command line. The stock ISO must not (BIOS).

The fixture's initrd prints /proc/cmdline to the serial port and powers off, so the
test sees exactly what the boot loader handed to the kernel. qemu runs under TCG: the
same on every CI machine, KVM or not.
"""

import pytest

from . import fixtures
from .conftest import require

# TCG on a 2-core machine: SeaBIOS + isolinux reaches the kernel in ~10 s, OVMF + GRUB in ~25 s.
BOOT_BOUND = 150


@pytest.fixture(scope="module", params=["5.0 full", "4.0 minimal + rpm-dir"])
def built_iso(request, tmp_path_factory, full_iso, minimal_iso, lb_rpm_dir):
    from .test_build import build

    out = tmp_path_factory.mktemp("boot")
    if request.param == "5.0 full":
        return build(full_iso, out)
    return build(minimal_iso, out, "--rpm-dir", lb_rpm_dir)


@pytest.mark.slow
@pytest.mark.parametrize("firmware", ["bios", "efi"])
def test_built_iso_starts_the_unattended_install(built_iso, tmp_path, firmware):
    require("qemu-system-x86_64")
    cmdline, seconds = fixtures.boot_cmdline(built_iso, tmp_path, firmware=firmware, seconds=BOOT_BOUND)
    assert cmdline is not None, f"{firmware}: no kernel within {BOOT_BOUND} s; serial log in {tmp_path}"
    words = cmdline.split()
    assert "ks=cdrom:/appliance/ks.json" in words
    assert any(word.startswith("photon.media=") for word in words)
    assert words[-3:] == ["console=ttyS0,115200n8", "console=tty0", "photon.media.mount_retry=10"]


@pytest.mark.slow
def test_stock_iso_waits_at_the_bios_menu(full_iso, tmp_path):
    # The control: stock isolinux has `timeout 0`, so with no key pressed nothing boots.
    require("qemu-system-x86_64")
    cmdline, _seconds = fixtures.boot_cmdline(full_iso, tmp_path, firmware="bios", seconds=25)
    assert cmdline is None, cmdline
