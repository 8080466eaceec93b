"""Fixtures of the stand-in package: the root (cached across sessions) and the installer ISO."""

import shutil

import pytest

from tests.standin import standin_installer_iso, standin_root

TOOLS = ("mmdebstrap", "xorriso", "grub-mkimage", "mkfs.vfat", "mcopy", "createrepo_c", "rpmbuild",
         "qemu-system-x86_64", "sgdisk")


def require(*tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip("needs %s (installed by scripts/test)" % ", ".join(missing))


@pytest.fixture(scope="session")
def photon_standin_root():
    require("mmdebstrap")
    return standin_root()


@pytest.fixture(scope="session")
def standin_iso(tmp_path_factory, photon_standin_root):
    require(*TOOLS)
    return standin_installer_iso(tmp_path_factory.mktemp("standin-iso"), photon_standin_root)
