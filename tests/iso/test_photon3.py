"""Photon 3.0 ISO revisions: told apart from the installer sources in the initrd; GA and Rev2 refused.

The stand-in sources (tests/iso/photon3.py) carry each revision's known_keys and CD mount
point as the real files at the ISOs' build commits state them.
"""

import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.iso import detect, kickstart
from builder.iso.image import IsoImage

from . import fixtures, photon3
from .conftest import require
from .test_kickstart import make


def sources(revision):
    return dict(photon3.initrd_files(revision))


def test_rev3_is_accepted_and_its_own_key_set_takes_the_kickstart():
    found = detect.photon3_revision(sources("Rev3"))
    assert (found.name, found.mount_path, found.refusal) == ("Rev3", "/mnt/media", None)
    assert set(make()) <= found.known_keys
    assert found.known_keys == kickstart.known_keys("3.0")


def test_rev2_is_refused_for_linux_flavor_and_mnt_cdrom():
    found = detect.photon3_revision(sources("Rev2"))
    assert found.name == "Rev2" and found.mount_path == "/mnt/cdrom"
    # what the real Rev2 installer would do with this kickstart: abort on linux_flavor
    assert set(make()) - found.known_keys == {"linux_flavor"}
    assert "linux_flavor" in found.refusal and "/mnt/cdrom" in found.refusal


def test_ga_is_refused_for_packagelist_and_no_additional_files():
    found = detect.photon3_revision(sources("GA"))
    assert found.name == "GA" and found.known_keys is None and found.mount_path == "/mnt/cdrom"
    assert "packagelist_file" in found.refusal and "additional_files" in found.refusal


def test_unreadable_or_unexpected_installer_is_refused():
    assert detect.photon3_revision({}).refusal.startswith("its initrd has no /installer/installer.py")
    odd = dict(sources("Rev3"), **{"installer/isoInstaller.py": b'mount_path = "/mnt/cd"\n'})
    assert "/mnt/cd, not /mnt/media" in detect.photon3_revision(odd).refusal


@pytest.fixture(scope="module")
def photon3_release_rpm(tmp_path_factory):
    require("rpmbuild", "xorriso", "grub-mkimage", "mkfs.vfat", "createrepo_c")
    from tests.repo.rpmfixtures import build_rpm

    return build_rpm(tmp_path_factory.mktemp("rpm3"), "photon-release", version="3.0", release="1.ph3", arch="noarch")


@pytest.mark.parametrize("revision", ["GA", "Rev2"])
def test_build_refuses_ga_and_rev2_in_one_line(revision, photon3_release_rpm, tmp_path):
    iso = fixtures.make_photon_iso(tmp_path / "iso", release="3.0", rpms=[photon3_release_rpm],
                                   photon3_revision=revision)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", "--iso", str(iso), "--out", str(out)])
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "Traceback" not in result.output
    assert f"is Photon OS 3.0 {revision}:" in error[0]
    assert error[0].endswith("use a Photon OS 3.0 Rev3, 4.0 or 5.0 ISO")
    assert not out.exists() or not any(out.iterdir())


def test_rev3_iso_is_detected(photon3_release_rpm, tmp_path):
    iso = fixtures.make_photon_iso(tmp_path / "iso", release="3.0", rpms=[photon3_release_rpm])
    with IsoImage(iso) as image:
        found = detect.detect(image)
    assert (found.release, found.installer, found.revision) == ("3.0", "3.0", "Rev3")
