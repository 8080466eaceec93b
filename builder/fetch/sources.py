"""Pinned download locations: the official installer ISO per release and flavour, and the online repositories.

Layout of VMware's download server (vmware/photon docs-v5
installation-guide/downloading-photon.md links <base>/5.0/GA/iso/; the
`photon-release.repo` / `photon-updates.repo` files of the photon-repos
package on the 3.0, 4.0 and 5.0 branches give the repository URLs):

    <base>/<release>/<revision>/iso/<file>                   installer ISOs
    <base>/<release>/photon_release_<release>_x86_64/        packages as released
    <base>/<release>/photon_updates_<release>_x86_64/        newest package versions

with <base> = https://packages.broadcom.com/photon. The files used to be
served from packages.vmware.com/photon, whose ISO links answer 404 since
2026 (vmware/photon issue #1645); newer photon-repos packages point the
repositories at Broadcom too (SPECS/photon-repos/migrate-repo-url.inc).
Pass --mirror or set BUILD_APPLIANCE_MIRROR for another host, a mirror or
an air-gapped copy.

A pinned checksum is used only once it is `confirmed`, i.e. published by
VMware itself. Two are: VMware by Broadcom's own repository
vmware/packer-examples-for-vsphere lists, in project.json (publisher
"VMware by Broadcom", commit 1fbcfa4b49d825e0695a731942c8f36ec737ea83),
the SHA-512 of photon-5.0-dde71ec57.x86_64.iso and the SHA-1 of
photon-4.0-c001795b8.iso. SHA-1 is a weak digest, but it is the value the
vendor publishes for that file; it is kept as published rather than
replaced by a digest nobody at VMware vouches for. The other pins agree
across public build configurations only, so for them the download commands
ask for --iso-sha256/--iso-sha512 (from VMware's download page,
https://github.com/vmware/photon/wiki/Downloading-Photon-OS) or for --iso
with a file downloaded by hand. An explicit checksum always overrides a pin.
"""

import os
from dataclasses import dataclass

from ..errors import InvalidInput
from .download import Checksum, url_file_name

DEFAULT_BASE_URL = "https://packages.broadcom.com/photon"
ENV_MIRROR = "BUILD_APPLIANCE_MIRROR"
DOWNLOAD_PAGE = "https://github.com/vmware/photon/wiki/Downloading-Photon-OS"
RELEASES = ("3.0", "4.0", "5.0")
FLAVORS = ("minimal", "full")
ARCH = "x86_64"  # the appliance is built for x86_64 only (BIOS + UEFI ISOs)


@dataclass(frozen=True)
class IsoPin:
    """One official installer ISO: where it sits and what its digest should be."""

    release: str
    flavor: str
    revision: str  # directory under <release>/: GA, Rev2, Rev3
    file_name: str
    checksum: Checksum | None
    confirmed: bool  # checksum published by VMware itself (see the module docstring)
    evidence: str

    def url(self, base_url: str) -> str:
        """The ISO's URL under `base_url`."""
        return f"{base_url.rstrip('/')}/{self.release}/{self.revision}/iso/{self.file_name}"


VENDOR_EVIDENCE = (
    "published by VMware by Broadcom in vmware/packer-examples-for-vsphere project.json "
    "(commit 1fbcfa4b49d825e0695a731942c8f36ec737ea83)"
)


ISO_PINS = {
    ("5.0", "full"): IsoPin(
        "5.0", "full", "GA", "photon-5.0-dde71ec57.x86_64.iso",
        Checksum("sha512", "6a7a258399a258da742032987c043ab25503698d35edafaf1ae000f12127da1a1"
                           "61d8b84caa17fd8f23d129e81e1faa7ab087c20ab9229772a643f8f9475305f"),
        confirmed=True,
        evidence=VENDOR_EVIDENCE + "; the same value in five independent public build configs",
    ),
    ("5.0", "minimal"): IsoPin(
        "5.0", "minimal", "GA", "photon-minimal-5.0-dde71ec57.x86_64.iso",
        Checksum("sha256", "691d09eb61f8cad470f21c88287ff6b005c3be365c926a87577e714aee2d46bc"),
        confirmed=False,
        evidence="same sha256 in two independent public Packer configs",
    ),
    ("4.0", "full"): IsoPin(
        "4.0", "full", "Rev2", "photon-4.0-c001795b8.iso",
        Checksum("sha1", "eeb08738209bf77306268d63b834fd91f6cecdfb"),
        confirmed=True,
        evidence=VENDOR_EVIDENCE + " (SHA-1: the vendor's published digest for this file)",
    ),
    ("4.0", "minimal"): IsoPin(
        "4.0", "minimal", "Rev2", "photon-minimal-4.0-c001795b8.iso",
        Checksum("sha256", "c6a5de1098228728b5d189854f387e6fe6edb87582be4d9a4568ae0405929383"),
        confirmed=False,
        evidence="sha256 in one public Packer config",
    ),
    ("3.0", "full"): IsoPin(
        "3.0", "full", "Rev3", "photon-3.0-a383732.iso", None, confirmed=False,
        evidence="URL in several public build configs; no checksum found",
    ),
    ("3.0", "minimal"): IsoPin(
        "3.0", "minimal", "Rev3", "photon-minimal-3.0-a383732.iso",
        Checksum("sha1", "c2883a42e402a2330d9c39b4d1e071cf9b3b5898"),
        confirmed=False,
        evidence="sha1 in one public Packer config",
    ),
}


@dataclass(frozen=True)
class IsoSource:
    """What fetch_iso downloads: URL, the file name it is cached under, the digest it must have."""

    url: str
    file_name: str
    checksum: Checksum


def base_url(override: str | None = None, environ=None) -> str:
    """--mirror, else $BUILD_APPLIANCE_MIRROR, else VMware's server."""
    environ = os.environ if environ is None else environ
    return (override or environ.get(ENV_MIRROR) or DEFAULT_BASE_URL).rstrip("/")


def check_release(release: str) -> str:
    """`release` if it is one this tool knows, else InvalidInput."""
    if release not in RELEASES:
        raise InvalidInput(f"--photon {release}: unknown Photon OS release (known: {', '.join(RELEASES)})")
    return release


def iso_pin(release: str, flavor: str) -> IsoPin:
    """The pinned ISO for a release and flavour (minimal or full)."""
    check_release(release)
    if flavor not in FLAVORS:
        raise InvalidInput(f"--flavor {flavor}: expected one of {', '.join(FLAVORS)}")
    return ISO_PINS[(release, flavor)]


def iso_source(release: str, flavor: str = "full", *, mirror: str | None = None, iso_url: str | None = None,
               checksum: Checksum | None = None) -> IsoSource:
    """The ISO to download, with the digest to verify it against.

    `iso_url` replaces the pinned location and `checksum` the pinned digest.
    Without a `checksum`, only a pin VMware itself published is used;
    otherwise the answer is an InvalidInput saying what to pass instead.
    """
    pin = iso_pin(release, flavor)
    url = iso_url or pin.url(base_url(mirror))
    file_name = url_file_name(url) if iso_url else pin.file_name
    if checksum is None:
        if iso_url:
            raise InvalidInput("--iso-url needs --iso-sha256 or --iso-sha512: a download is only used once verified")
        if pin.checksum is None or not pin.confirmed:
            raise InvalidInput(
                f"no checksum of {pin.file_name} (Photon OS {release} {flavor}) published by VMware "
                f"is pinned in this tool, so it will not download the ISO unverified: pass --iso-sha512 or "
                f"--iso-sha256 with the value from {DOWNLOAD_PAGE}, or download the ISO yourself from "
                f"{pin.url(base_url(mirror)).rsplit('/', 1)[0]}/ and use --iso FILE"
            )
        checksum = pin.checksum
    return IsoSource(url, file_name, checksum)


def repo_urls(release: str, mirror: str | None = None) -> list[str]:
    """The release's online repositories (released packages, then updates), each ending in '/'."""
    check_release(release)
    base = base_url(mirror)
    return [f"{base}/{release}/photon_{kind}_{release}_{ARCH}/" for kind in ("release", "updates")]
