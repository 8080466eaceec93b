"""Recognise a stock Photon OS installer ISO: release, installer generation, boot loaders.

Facts used (../shared/reference/photon.md sections 0, 1 and 7): every Photon
installer ISO has /isolinux/vmlinuz + initrd.img, an RPM repository under
/RPMS with repodata, and the /PHOTON_VMWARE_CD marker; RPM file names carry
the release's dist tag (.ph3/.ph4/.ph5); 4.0 and 5.0 install with the
photon-os-installer package, whose version decides which kickstart keys are
accepted; 3.0 has its installer as /installer/isoInstaller.py in the initrd.
"""

import gzip
import re
import zlib
from dataclasses import dataclass, field

from ..errors import InvalidArtifact
from .image import IsoImage

RELEASES = ("3.0", "4.0", "5.0")
KERNEL = "/isolinux/vmlinuz"
INITRD = "/isolinux/initrd.img"
REPOMD = "/RPMS/repodata/repomd.xml"
MARKER = "/PHOTON_VMWARE_CD"
ISOLINUX_CFG = "/isolinux/isolinux.cfg"
ISOLINUX_MENU = "/isolinux/menu.cfg"
GRUB_CFG = "/boot/grub2/grub.cfg"

_DIST_TAG = re.compile(r"\.ph(\d+)\.[A-Za-z0-9_]+\.rpm$")
_RELEASE_RPM = re.compile(r"^photon-release-(\d+\.\d+)-")
_INSTALLER_RPM = re.compile(r"^photon-os-installer-(\d+)\.(\d+)")
_INSTALLER_IN_INITRD = re.compile(rb"site-packages/photon_installer-(\d+)\.(\d+)")


@dataclass(frozen=True)
class PhotonIso:
    """What the build needs to know about its input ISO."""

    release: str  # "3.0", "4.0", "5.0"
    installer: str  # kickstart key generation: "3.0" or a photon-os-installer "major.minor"
    bios_loader: str | None  # "isolinux", "grub" or None (no BIOS El Torito entry)
    uefi: bool
    volume_label: str
    rpm_count: int
    notes: tuple[str, ...] = field(default=())

    @property
    def flavor(self) -> str:
        # A full ISO carries every RPM of the release (over a thousand); a minimal one a few hundred.
        return "full" if self.rpm_count >= 1000 else "minimal"


def detect(image: IsoImage) -> PhotonIso:
    """Identify the Photon release and installer of `image`, or refuse it in one line."""
    files = image.files()
    missing = [path for path in (KERNEL, INITRD, REPOMD) if path not in files]
    if missing:
        raise InvalidArtifact(
            f"{image.path.name} is not a Photon OS installer ISO (no {', '.join(missing)}); "
            "pass a photon-<release>-<build>.x86_64.iso from the Photon OS downloads"
        )
    rpms = [path.rsplit("/", 1)[1] for path in files if path.startswith("/RPMS/") and path.endswith(".rpm")]
    release = _release(rpms)
    if release is None:
        raise InvalidArtifact(
            f"{image.path.name}: cannot tell the Photon release (no photon-release RPM and no .ph3/.ph4/.ph5 "
            "RPMs under /RPMS); this ISO is not a stock Photon OS installer ISO"
        )
    if release not in RELEASES:
        raise InvalidArtifact(
            f"{image.path.name} is Photon OS {release}; this tool supports {', '.join(RELEASES)}"
        )
    notes = []
    if MARKER not in files:
        notes.append(f"{MARKER} is missing (stock ISOs have it); continuing")
    installer = _installer_generation(image, release, rpms)
    entries = image.boot_entries()
    bios = next((entry for entry in entries if entry.platform == "BIOS"), None)
    bios_loader = None
    if bios is not None:
        bios_loader = "isolinux" if bios.path and bios.path.endswith("isolinux.bin") else "grub"
        if bios_loader == "isolinux" and (ISOLINUX_CFG not in files or ISOLINUX_MENU not in files):
            raise InvalidArtifact(f"{image.path.name}: BIOS boots isolinux but {ISOLINUX_CFG} or menu.cfg is missing")
    uefi = any(entry.platform == "UEFI" for entry in entries)
    if uefi and GRUB_CFG not in files:
        raise InvalidArtifact(f"{image.path.name}: UEFI boot entry present but {GRUB_CFG} is missing")
    if bios is None and not uefi:
        raise InvalidArtifact(f"{image.path.name} has no El Torito boot entry; it cannot boot an installer")
    if bios is None:
        notes.append("no BIOS boot entry: the appliance ISO will boot under UEFI only")
    return PhotonIso(release, installer, bios_loader, uefi, image.volume_label, len(rpms), tuple(notes))


def _release(rpm_names: list[str]) -> str | None:
    for name in rpm_names:
        match = _RELEASE_RPM.match(name)
        if match:
            return match.group(1)
    tags = {}
    for name in rpm_names:
        match = _DIST_TAG.search(name)
        if match:
            tags[match.group(1)] = tags.get(match.group(1), 0) + 1
    if not tags:
        return None
    return max(tags, key=tags.get) + ".0"


def _installer_generation(image: IsoImage, release: str, rpm_names: list[str]) -> str:
    if release == "3.0":
        return "3.0"
    versions = []
    for name in rpm_names:
        match = _INSTALLER_RPM.match(name)
        if match:
            versions.append((int(match.group(1)), int(match.group(2))))
    if not versions:
        found = _scan_initrd(image)
        if found is not None:
            versions.append(found)
    if not versions:
        # 4.0 GA shipped installer 1.0; assume the oldest key set of the release: it is the safest.
        return "1.0" if release == "4.0" else "2.3"
    major, minor = max(versions)
    return f"{major}.{minor}"


def _scan_initrd(image: IsoImage) -> tuple[int, int] | None:
    """The photon_installer version installed in the initrd (a gzip'd newc cpio), streamed."""
    try:
        with image.open(INITRD) as stream:
            for path in cpio_names(gzip.GzipFile(fileobj=stream)):
                match = _INSTALLER_IN_INITRD.search(path)
                if match:
                    return int(match.group(1)), int(match.group(2))
    except (OSError, EOFError, zlib.error):
        return None
    return None


def cpio_names(stream, limit: int = 200_000):
    """Yield the names in a newc cpio stream, skipping file data (bounded by `limit` entries)."""
    for _ in range(limit):
        header = stream.read(110)
        if len(header) < 110 or header[:6] not in (b"070701", b"070702"):
            return
        name_size = int(header[94:102], 16)
        file_size = int(header[54:62], 16)
        name = stream.read(name_size)[:-1]
        stream.read((4 - (110 + name_size) % 4) % 4)
        if name == b"TRAILER!!!":
            return
        yield name
        remaining = file_size + (4 - file_size % 4) % 4
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
