"""The boot-chain fixture itself (tests/bootchain.py) behaves like a stock Photon initrd.

Booted straight from the kernel (no boot loader) with the command lines that matter:
no console= (stock), console=ttyS0 alone, and the two console= the builder once used.
The expectations are those of the launcher and of systemd's getty rule, with the real
kernel's /sys/class/tty/console/active in between.
"""

import pytest

from tests import bootchain

from . import fixtures
from .conftest import require

BOUND = 120
BASE = "root=/dev/ram0 loglevel=3"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    require("qemu-system-x86_64")
    workdir = tmp_path_factory.mktemp("chain")
    initrd = workdir / "initrd.img"
    initrd.write_bytes(fixtures.installer_initrd())
    return fixtures.kernel_path(), initrd


@pytest.mark.slow
@pytest.mark.parametrize("consoles, active, gettys, installer_tty", [
    ("", "tty0", ["tty1"], "/dev/tty1"),
    ("console=ttyS0,115200n8", "ttyS0", ["tty1", "ttyS0"], "/dev/ttyS0"),
    ("console=ttyS0,115200n8 console=tty0", "ttyS0 tty0", ["tty1", "ttyS0"], None),
])
def test_launcher_and_getty_rule(chain, tmp_path, consoles, active, gettys, installer_tty):
    kernel, initrd = chain
    report = bootchain.watch_kernel(kernel, initrd, f"{BASE} {consoles}".strip(), tmp_path, seconds=BOUND,
                                    done_marker=fixtures.INSTALLER_MARKER)
    assert report.find(bootchain.ACTIVE_MARKER) == active, report.lines[-20:]
    assert report.gettys == gettys
    found = report.find(fixtures.INSTALLER_MARKER)
    if installer_tty is None:
        # No terminal matches the whole string: every terminal ends in a root shell.
        assert found is None and sorted(report.root_shells) == ["/dev/tty1", "/dev/ttyS0"]
    else:
        assert found.startswith(f"tty={installer_tty} cwd=/installer args=-i iso -o ")
        # The other terminal, if any, gets a root shell, as on a stock initrd.
        assert report.root_shells == [f"/dev/{tty}" for tty in gettys if f"/dev/{tty}" != installer_tty]
