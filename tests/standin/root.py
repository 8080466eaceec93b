"""The Photon stand-in root: a Debian 12 system made with mmdebstrap that
honours the parts of Photon OS's contract the appliance relies on.

The recipe (packages, dpkg path filters, the Photon contract files) is data
in this module; its digest names the cached tarball, so changing the recipe
rebuilds it and an unchanged recipe reuses it across test sessions.
See README.md beside this file for what is and is not like Photon.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Photon's minimal + the appliance's packages, by their Debian names, plus
# what the stand-in installer runs from this same root (as Photon's initrd is
# built from the same repository as the installed system).
PACKAGES = [
    # the system (Photon: minimal, systemd, linux, initramfs)
    "systemd", "systemd-sysv", "udev", "dbus", "kmod", "procps",
    "linux-image-amd64", "initramfs-tools",
    "openssh-server", "open-vm-tools",
    # what the appliance needs
    "python3", "python3-jinja2", "haproxy", "keepalived", "iptables", "iproute2",
    "openssl",  # the agent makes the stats page's certificate with it (Photon: minimal requires openssl)
    # boot loader for BIOS and EFI (Photon: grub2-pc, grub2-efi-image)
    "grub2-common", "grub-pc-bin", "grub-efi-amd64-bin", "efibootmgr",
    # what the installer runs (Photon's initrd: gptfdisk, e2fsprogs, dosfstools, eject)
    "gdisk", "e2fsprogs", "dosfstools", "eject",
]

# Hardware a VM (qemu, vSphere) does not have: left out to keep the CD and the
# install small. Storage, virtio, the VM NICs, file systems and netfilter stay.
MODULES = "/lib/modules/*/kernel"
KEPT_DRIVERS = ["ata", "block", "cdrom", "scsi", "nvme", "virtio", "char", "acpi", "firmware",
                "input", "hid", "md", "base", "pci", "platform/x86", "misc/vmw_vmci", "net/vmxnet3",
                "net/ethernet/intel/e1000", "net/ethernet/intel/e1000e"]
KEPT_NET_DRIVERS = ["virtio_net.ko", "net_failover.ko", "dummy.ko", "veth.ko", "macvlan.ko", "tun.ko"]
DPKG_FILTERS = (
    ["path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
     "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
     "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
     f"path-exclude={MODULES}/sound/*", f"path-exclude={MODULES}/drivers/*"]
    + [f"path-include={MODULES}/drivers/{name}/*" for name in KEPT_DRIVERS]
    + [f"path-include={MODULES}/drivers/net/{name}" for name in KEPT_NET_DRIVERS]
)

CONTRACT_DIR = Path(__file__).resolve().parent / "contract"

CUSTOMIZE_SCRIPT = Path(__file__).resolve().parent / "customize.sh"


def recipe(mirror: str = DEFAULT_MIRROR) -> dict:
    contract = {
        str(path.relative_to(CONTRACT_DIR)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(CONTRACT_DIR.rglob("*")) if path.is_file()
    }
    return {"suite": SUITE, "mirror": mirror, "packages": PACKAGES, "dpkg": DPKG_FILTERS,
            "customize": CUSTOMIZE_SCRIPT.read_text(), "contract": contract}


def recipe_digest(mirror: str = DEFAULT_MIRROR) -> str:
    return hashlib.sha256(json.dumps(recipe(mirror), sort_keys=True).encode()).hexdigest()[:16]


def default_cache() -> Path:
    """Persistent across test sessions (tests/conftest.py gives each session a fresh BUILD_APPLIANCE_CACHE)."""
    if os.environ.get("STANDIN_CACHE"):
        return Path(os.environ["STANDIN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "photon-appliance-builder-tests"


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org."""
    texts = []
    for path in [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in (".list", ".sources"):
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        for match in re.finditer(r"^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+/debian)/?\s", text, re.M):
            return match.group(1)
    return DEFAULT_MIRROR


_lock = threading.Lock()
_builds: dict[Path, Future] = {}  # target -> its build, started by build_in_background()


def standin_root(cache: Path | None = None, *, mirror: str | None = None, log=print) -> Path:
    """Path of the stand-in root tarball (uncompressed tar, numeric owners), built once per recipe."""
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is missing: apt-get install mmdebstrap (scripts/test installs it)")
    mirror = mirror or apt_mirror()
    cache = Path(cache) if cache else default_cache()
    target = cache / f"photon-standin-{recipe_digest(mirror)}.tar"
    with _lock:
        started = _builds.get(target)
    if started is not None:
        return started.result()  # the background build's tarball, or its error
    return _build(target, mirror, log)


def build_in_background(cache: Path | None = None, *, mirror: str | None = None) -> Future | None:
    """Start building the root (and its installer initrd) in a thread, unless cached; standin_root() waits for it.

    A fresh machine (CI) needs minutes for it: the session starts it at once so it is
    built while the tests before the VM tests run.
    """
    if shutil.which("mmdebstrap") is None:
        return None
    mirror = mirror or apt_mirror()
    cache = Path(cache) if cache else default_cache()
    target = cache / f"photon-standin-{recipe_digest(mirror)}.tar"
    with _lock:
        if target in _builds or target.exists():
            return _builds.get(target)
        future: Future = Future()
        _builds[target] = future

    def build():
        try:
            tarball = _build(target, mirror, log=lambda _line: None)
            from .iso import standin_initrd_image  # the initrd is cached beside the root
            standin_initrd_image(tarball, cache)
            future.set_result(tarball)
        except BaseException as error:  # handed to whoever waits in standin_root()
            future.set_exception(error)

    threading.Thread(target=build, name="standin-root", daemon=True).start()
    return future


def _build(target: Path, mirror: str, log) -> Path:
    if target.exists():
        os.utime(target)  # in use: see prune()
        return target
    cache = target.parent
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=cache, prefix=".build-"))
    try:
        output = partial / "root.tar"
        command = [
            "mmdebstrap", "--variant=apt", "--mode=auto", "--format=tar",
            "--include=" + ",".join(PACKAGES),
            *[f"--dpkgopt={line}" for line in DPKG_FILTERS],
            f'--customize-hook=sh {CUSTOMIZE_SCRIPT} "$1" {CONTRACT_DIR}',
            SUITE, str(output), f"deb {mirror} {SUITE} main",
        ]
        log("building the Photon stand-in root with mmdebstrap (a few minutes, once per recipe)")
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError("mmdebstrap failed:\n" + result.stdout[-4000:])
        os.replace(output, target)
        prune(cache, keep=target.stem)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


STALE_SECONDS = 2 * 24 * 3600


def prune(cache: Path, keep: str):
    """Drop roots (and their initrds) of other recipes unused for two days: each is ~0.6 GB.

    Not sooner: another checkout (a branch with an older recipe) may be using one right now.
    """
    now = time.time()
    for path in cache.glob("photon-standin-*"):
        if not path.name.startswith(keep) and now - path.stat().st_atime > STALE_SECONDS:
            path.unlink(missing_ok=True)
