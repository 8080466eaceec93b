import shutil
from pathlib import Path

import pytest

from builder.vm.accel import host_kernel


def require_qemu():
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("needs qemu-system-x86_64 (installed by scripts/test)")


@pytest.fixture(scope="session")
def kernel() -> Path:
    require_qemu()
    found = host_kernel()
    if found is None:
        pytest.skip("needs a readable /boot/vmlinuz-* (linux-image-amd64, installed by scripts/test)")
    if not Path("/bin/busybox").exists():
        pytest.skip("needs busybox-static (installed by scripts/test)")
    return found


# The stock-Photon-like fixture ISOs of the ISO tests (tests/iso/fixtures.py), shared here.
from tests.iso.conftest import full_iso, photon_rpms  # noqa: E402,F401
# The stand-in Photon installer ISO (tests/standin, issue 15 milestone 2): a real install in a VM.
from tests.standin.conftest import photon_standin_root, standin_iso  # noqa: E402,F401
