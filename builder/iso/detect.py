"""Recognise a stock Photon OS installer ISO: release, installer generation, boot loaders.

Facts used (../shared/reference/photon.md sections 0, 1 and 7): every Photon
installer ISO has /isolinux/vmlinuz + initrd.img, an RPM repository under
/RPMS with repodata, and the /PHOTON_VMWARE_CD marker; RPM file names carry
the release's dist tag (.ph3/.ph4/.ph5); 4.0 and 5.0 install with the
photon-os-installer package, whose version decides which kickstart keys are
accepted; 3.0 has its installer as Python sources under /installer/ in the
initrd, and its ISO revisions differ (photon.md section 0, from the
installer/ sources at each ISO's build commit in vmware/photon):

- 3.0 GA (26156e2): installer.py has no known_keys; iso_config.py rebuilds
  `packages` from packagelist_file + additional_packages, there is no
  additional_files, and the CD is mounted at /mnt/cdrom;
- 3.0 Rev2 (9355405): known_keys without linux_flavor (the installer aborts
  on it), CD at /mnt/cdrom;
- 3.0 Rev3 (a383732): known_keys with linux_flavor, media at /mnt/media.

The kickstart needs linux_flavor, packages, additional_files and /mnt/media,
so only Rev3 is accepted; GA and Rev2 are refused in one line.
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
PHOTON3_SOURCES = ("installer/installer.py", "installer/isoInstaller.py", "installer/iso_config.py")
MEDIA_MOUNT = "/mnt/media"  # where the kickstart's additional_files expects the ISO
_KNOWN_KEYS = re.compile(r"known_keys\s*=\s*\{([^}]*)\}")
_QUOTED = re.compile(r"['\"]([A-Za-z0-9_]+)['\"]")
_MOUNT_PATH = re.compile(r"mount_path\s*=\s*['\"](/[^'\"]+)['\"]")
USE_INSTEAD = "use a Photon OS 3.0 Rev3, 4.0 or 5.0 ISO"


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
    revision: str | None = None  # 3.0 only: "Rev3" (GA and Rev2 are refused)

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
    revision = None
    if release == "3.0":
        found3 = photon3_revision(_initrd_files(image, PHOTON3_SOURCES))
        if found3.refusal:
            raise InvalidArtifact(f"{image.path.name} is Photon OS 3.0 {found3.name}: {found3.refusal}; {USE_INSTEAD}")
        revision = found3.name
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
    return PhotonIso(release, installer, bios_loader, uefi, image.volume_label, len(rpms), tuple(notes),
                     revision=revision)


@dataclass(frozen=True)
class Photon3Revision:
    """What a 3.0 initrd's installer sources say: which ISO revision, and why the build cannot use it."""

    name: str  # "GA", "Rev2", "Rev3" or "(unknown revision)"
    known_keys: frozenset[str] | None
    mount_path: str | None
    refusal: str | None  # None: the kickstart works with this installer


def photon3_revision(sources: dict[str, bytes]) -> Photon3Revision:
    """Tell 3.0 GA, Rev2 and Rev3 apart from /installer/{installer,isoInstaller,iso_config}.py."""
    installer = sources.get("installer/installer.py", b"").decode("utf-8", "replace")
    mounts = [match for name in ("installer/isoInstaller.py", "installer/iso_config.py")
              for match in _MOUNT_PATH.findall(sources.get(name, b"").decode("utf-8", "replace"))]
    mount = mounts[0] if mounts else None
    if not installer:
        return Photon3Revision("(unknown revision)", None, mount,
                               "its initrd has no /installer/installer.py, so its kickstart keys cannot be checked")
    keys_match = _KNOWN_KEYS.search(installer)
    if keys_match is None:
        return Photon3Revision(
            "GA", None, mount,
            "its installer replaces the kickstart's packages with packagelist_file + additional_packages, "
            f"has no additional_files and mounts the CD at {mount or '/mnt/cdrom'}")
    keys = frozenset(_QUOTED.findall(keys_match.group(1)))
    if "linux_flavor" not in keys:
        return Photon3Revision("Rev2", keys, mount,
                               f"its installer aborts on the kickstart key linux_flavor and mounts the CD at "
                               f"{mount or '/mnt/cdrom'}")
    if mount != MEDIA_MOUNT:
        return Photon3Revision("(unknown revision)", keys, mount,
                               f"its installer mounts the CD at {mount or 'an unknown place'}, not {MEDIA_MOUNT}")
    return Photon3Revision("Rev3", keys, mount, None)


def _initrd_files(image: IsoImage, wanted) -> dict[str, bytes]:
    """The contents of the `wanted` paths (relative, e.g. "installer/installer.py") in the initrd."""
    try:
        with image.open(INITRD) as stream:
            return dict(cpio_files(gzip.GzipFile(fileobj=stream), set(wanted)))
    except (OSError, EOFError, zlib.error):
        return {}


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
    for name, _data in _cpio_entries(stream, frozenset(), limit):
        yield name


def cpio_files(stream, wanted: set[str], limit: int = 200_000):
    """Yield (path, data) for the `wanted` relative paths found in a newc cpio stream ("./" ignored)."""
    left = set(wanted)
    for name, data in _cpio_entries(stream, frozenset(wanted), limit):
        if data is not None:
            yield name, data
            left.discard(name)
            if not left:
                return


def _relative(name: bytes) -> str:
    text = name.decode("utf-8", "replace")
    while text.startswith(("./", "/")):
        text = text[2:] if text.startswith("./") else text[1:]
    return text


def _cpio_entries(stream, wanted: frozenset, limit: int):
    """(name, data or None) per entry: names as bytes when nothing is wanted, else relative str paths."""
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
        if wanted:
            path = _relative(name)
            if path in wanted:
                data = stream.read(file_size)
                stream.read((4 - file_size % 4) % 4)
                yield path, data
                continue
            yield path, None
        else:
            yield name, None
        remaining = file_size + (4 - file_size % 4) % 4
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
