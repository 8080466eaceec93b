"""The fixture installer ISO: a stock Photon 5.0 ISO's layout (reusing
tests/iso/fixtures.py: isolinux with the stock menus, the GRUB EFI image
reading /boot/grub2/grub.cfg, RPMS/ with repodata, PHOTON_VMWARE_CD, the
Photon builders' mkisofs options) around the stand-in root's kernel, the
stand-in installer initrd, and the stand-in root tarball in place of the
RPMs' contents (/standin/root.tar).
"""

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.iso import fixtures

from . import initrd as standin_initrd

LABEL = "PHOTON_20250101"
EXTRA_PACKAGES = {
    # v2.7 adds grub2-efi-image to every dualboot/efi install (installer.py).
    "grub2-efi-image": ("x86_64", [], [], {}),
}


def standin_rpms(workdir: Path) -> list[Path]:
    """Empty Photon 5.0 RPMs named like the packages the default profile installs (tests/iso/conftest.py)."""
    from tests.iso.conftest import BASE_PACKAGES, LB_PACKAGES, VERSIONS
    from tests.repo.rpmfixtures import build_rpm

    workdir.mkdir(parents=True, exist_ok=True)
    rpms = []
    for name, (arch, requires, provides, files) in {**BASE_PACKAGES, **LB_PACKAGES, **EXTRA_PACKAGES}.items():
        version = "5.0" if name == "photon-release" else VERSIONS.get(name, "1.0")
        rpms.append(build_rpm(workdir, name, version=version, release="1.ph5", arch=arch,
                              requires=requires, provides=provides, files=files))
    return sorted(rpms)


def kernel_from(root: Path, workdir: Path) -> Path:
    """The stand-in root's kernel (its modules are the ones in the initrd)."""
    with tarfile.open(root) as tar:
        member = next(m for m in tar if m.name.startswith("./boot/vmlinuz-"))
        target = workdir / "vmlinuz"
        with tar.extractfile(member) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
    return target


def standin_initrd_image(root: Path, cache: Path | None = None) -> Path:
    """The installer initrd for `root`, cached beside it (keyed by the root and the initrd recipe)."""
    cache = Path(cache) if cache else Path(root).parent
    target = cache / f"{Path(root).stem}-initrd-{standin_initrd.recipe_digest()}.img"
    if not target.exists():
        standin_initrd.build_initrd(Path(root), target)
        for old in cache.glob(f"{Path(root).stem}-initrd-*.img"):
            if old != target:
                old.unlink(missing_ok=True)
    return target


FAULTS = ("fail", "skip", "hang")


def standin_installer_iso(workdir: Path, root: Path, rpms=None, *, cache: Path | None = None,
                          fault: str | None = None) -> Path:
    """Build the fixture Photon 5.0 installer ISO in `workdir` and return its path.

    `root` is standin_root()'s tarball; `rpms` default to standin_rpms().
    `fault` (test-only, not Photon) makes the stand-in installer misbehave:
    "fail" exits 1 before touching the disk (root shell, no reboot), "skip"
    exits 0 without installing (reboot, empty disk), "hang" never finishes.
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"fault must be one of {FAULTS}")
    workdir = Path(workdir)
    tree = workdir / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    isolinux, grub = tree / "isolinux", tree / "boot" / "grub2"
    isolinux.mkdir(parents=True)
    grub.mkdir(parents=True)
    shutil.copy(fixtures.ISOLINUX_BIN, isolinux / "isolinux.bin")
    for module in ("ldlinux.c32", "libcom32.c32", "libutil.c32", "vesamenu.c32"):
        shutil.copy(Path(fixtures.SYSLINUX_MODULES) / module, isolinux / module)
    (isolinux / "isolinux.cfg").write_text(fixtures.STOCK_ISOLINUX_CFG)
    (isolinux / "menu.cfg").write_text(fixtures.STOCK_MENU_CFG)
    (isolinux / "sample_ks.cfg").write_text('{"disk": "/dev/sda", "packagelist_file": "packages_minimal.json"}\n')
    shutil.move(kernel_from(root, workdir), isolinux / "vmlinuz")
    (grub / "grub.cfg").write_text(fixtures.STOCK_GRUB_CFG)
    shutil.copy(fixtures.grub_efi_image(workdir), grub / "efiboot.img")
    (tree / "PHOTON_VMWARE_CD").write_bytes(b"")
    if fault:
        (tree / "standin").mkdir()
        (tree / "standin" / "fault").write_text(fault + "\n")
    repo = tree / "RPMS"
    for arch in ("x86_64", "noarch"):
        (repo / arch).mkdir(parents=True)
    for rpm in rpms if rpms is not None else standin_rpms(workdir / "rpms"):
        arch = Path(rpm).name.rsplit(".", 2)[-2]
        shutil.copy(rpm, repo / ("noarch" if arch == "noarch" else "x86_64") / Path(rpm).name)
    subprocess.run(["createrepo_c", "--quiet", "--database", str(repo)], check=True, capture_output=True)
    primary = next((repo / "repodata").glob("*-primary.xml.gz"))
    (repo / "repodata" / "primary.xml.gz").symlink_to(primary.name)  # as Photon 5's ISO builder
    output = workdir / "photon-5.0-standin.iso"
    command = [
        "xorriso", "-as", "mkisofs", "-R", "-l", "-L", "-D",
        "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
        "-eltorito-alt-boot", "-e", "boot/grub2/efiboot.img", "-no-emul-boot",
        "-V", LABEL, "-o", str(output), "-graft-points", f"/={tree}",
        # Big files straight from the cache, not copied into the tree.
        f"/isolinux/initrd.img={standin_initrd_image(root, cache)}", f"/standin/root.tar={root}",
    ]
    subprocess.run(command, check=True, capture_output=True, env=dict(os.environ, SOURCE_DATE_EPOCH="1735689600"))
    return output
