"""The build, as plain stage functions over one context, run in order by `build()`.

Each stage decides for itself whether it applies. Every output, metadata
included, is written under a hidden partial name (`.NAME.partial`) and
published by `publish()` only when all of them are complete; on any failure
every partial is removed and --out holds the previous build, untouched.

Publishing order (what a reader of --out sees at each instant): the old
build-info.json goes first, then the old SHA256SUMS and outputs are moved
aside (`.NAME.old`); the new ISO, OVA and SHA256SUMS are renamed in, and
build-info.json comes last. So whenever build-info.json is there, the files
it lists are the build it describes. A failure in between puts the old
files back (build-info.json last) and removes the new ones; Ctrl-C and
SIGTERM are held back until the renames are done or undone.
"""

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__
from .buildconfig import PhotonSettings, VmSettings, photon_settings, vm_settings
from .errors import BuildError, InvalidInput
from .fetch.cache import Cache, identity_stamp, recorded_digests, remember_sha256, remembered_sha256
from .fetch.inputs import fetch_rpms
from .io.hashing import file_digest
from .io.window import FileWindow
from .iso import bootconfig
from .iso import detect as isodetect
from .iso.image import IsoImage, NewFile, NewSymlink, remaster
from .iso.kickstart import KICKSTART_PATH, build_kickstart, check_kickstart, kickstart_json
from .iso.payload import PAYLOAD_PATH, PAYLOAD_TARGET, payload_files, payload_tar
from .ova.archive import read_ova
from .ova.stage import write_appliance_ova, write_appliance_ova_direct
from .preinstall import generalizing, install_stage
from .profile import check_sample_nodes, profile_digest
from .repo.depsolve import check_closure
from .repo.repodata import packages_from_rpms, parse_repodata, write_repodata
from .repo.rpmhdr import read_rpm

REPO_ROOT = "/RPMS"
DEFAULT_EPOCH = 1704067200  # 2024-01-01T00:00:00Z, when SOURCE_DATE_EPOCH is not set
FORMATS = ("iso", "ova", "both")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FetchOptions:
    """Where missing inputs come from, for --photon and --fetch-missing."""
    release: str | None = None
    flavor: str = "full"
    mirror: str | None = None
    repo_urls: tuple[str, ...] = ()
    cache_dir: Path | None = None
    checksum: tuple[str, str] | None = None


@dataclass(frozen=True)
class BuildConfig:
    iso_path: Path
    profile: object
    profile_path: Path | None
    out_dir: Path
    formats: str = "both"
    checksum: bool = False  # SHA256SUMS of the outputs: one more SHA-256 pass per output
    rpm_dirs: tuple[Path, ...] = ()
    epoch: int = DEFAULT_EPOCH
    fetch_missing: bool = False
    fetch: FetchOptions = FetchOptions()
    preinstall: bool = False  # install in a local VM; the OVA carries the installed disk, no ISO
    install_time_limit: float = 3600.0

    @property
    def base_name(self) -> str:
        return f"{self.profile.name}-{self.profile.version}"

    @property
    def iso_out(self) -> Path:
        return self.out_dir / f"{self.base_name}.iso"

    @property
    def ova_out(self) -> Path:
        return self.out_dir / f"{self.base_name}.ova"

    @property
    def info_out(self) -> Path:
        return self.out_dir / "build-info.json"

    @property
    def sums_out(self) -> Path:
        return self.out_dir / "SHA256SUMS"

    @property
    def published(self) -> tuple[Path, ...]:
        """Every file a build owns in --out, in publishing order: build-info.json last."""
        return (self.iso_out, self.ova_out, self.sums_out, self.info_out)


def staging_path(final: Path) -> Path:
    """Where an output is written until it is published."""
    return final.with_name(f".{final.name}.partial")


def backup_path(final: Path) -> Path:
    """Where the previous build's file waits while the new one is published."""
    return final.with_name(f".{final.name}.old")


@dataclass
class BuildContext:
    config: BuildConfig
    progress: Progress
    log: Callable[[str], None]
    vm: VmSettings | None = None
    photon: PhotonSettings | None = None
    image: IsoImage | None = None
    detected: isodetect.PhotonIso | None = None
    base_sha256: str | None = None
    new_files: list[NewFile] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    symlinks: list[NewSymlink] = field(default_factory=list)
    rpms_added: list[dict] = field(default_factory=list)
    outputs: dict[str, dict] = field(default_factory=dict)
    partials: list[Path] = field(default_factory=list)
    staged: dict[Path, Path] = field(default_factory=dict)  # final name -> complete partial, to publish
    iso_written: Path | None = None
    iso_sha256: str | None = None
    iso_digest: Callable[[], str] | None = None  # --format both: the ISO's digest, still being computed
    rpm_dirs: list[Path] = field(default_factory=list)
    install: dict | None = None  # --preinstall: what was installed, how, how long

    def staging(self, final: Path) -> Path:
        """The partial for `final`, removed on failure unless published."""
        partial = staging_path(final)
        if partial not in self.partials:
            self.partials.append(partial)
        return partial

    def stage(self, final: Path) -> None:
        """The partial of `final` is complete: publish it with the others."""
        self.staged[final] = staging_path(final)


@contextlib.contextmanager
def step(ctx: BuildContext, title: str):
    started = time.monotonic()
    yield
    ctx.log(f"{title}: {time.monotonic() - started:.2f} s")


def check_settings(ctx: BuildContext) -> None:
    ctx.vm = vm_settings(ctx.config.profile)
    ctx.photon = photon_settings(ctx.config.profile)
    if ctx.config.formats not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}")
    if ctx.config.preinstall and ctx.config.formats == "iso":
        raise InvalidInput("--preinstall makes the OVA's installed disk: use --format ova or both")
    # The appliance must be able to configure itself: render a sample pair with the agent's own code.
    where = f"profile {ctx.config.profile_path}" if ctx.config.profile_path else "default profile"
    check_sample_nodes(ctx.config.profile, log=ctx.log, where=where)


def open_input(ctx: BuildContext) -> None:
    ctx.image = IsoImage(ctx.config.iso_path)
    ctx.detected = isodetect.detect(ctx.image)
    found = ctx.detected
    ctx.log(
        f"input: Photon OS {found.release} ({found.flavor} ISO, {found.rpm_count} RPMs), installer {found.installer}, "
        f"BIOS boot {found.bios_loader or 'none'}, UEFI boot {'yes' if found.uefi else 'no'}, label {found.volume_label}"
    )
    for note in found.notes:
        ctx.log(f"note: {note}")
    if found.flavor == "full" and ctx.config.formats != "iso" and not ctx.config.preinstall:
        ctx.log(f"warning: the OVA will carry the whole {found.flavor} ISO ({ctx.image.size / 2**30:.1f} GiB); "
                "for a small OVA use --preinstall (installed disk, no ISO), or the minimal ISO with --fetch-missing")


def check_packages(ctx: BuildContext) -> None:
    """Every package the kickstart installs, and its whole Requires closure, must be in the repository."""
    image = ctx.image
    ctx.rpm_dirs = list(ctx.config.rpm_dirs)
    on_iso = parse_repodata(lambda relpath: image.read(f"{REPO_ROOT}/{relpath}"))
    wanted = list(ctx.photon.install_packages)

    def added():
        return [package for directory in ctx.rpm_dirs for package in _rpm_dir_packages(directory, packages_from_rpms)]

    missing = check_closure(wanted, on_iso + added())
    if missing and ctx.config.fetch_missing:
        ctx.rpm_dirs.append(fetch_missing_rpms(ctx, wanted, on_iso + added()))
        missing = check_closure(wanted, on_iso + added())
    if missing:
        lines = [f"{item.capability} (needed by {item.needed_by})" for item in missing]
        hint = (
            "add the RPMs with --rpm-dir DIR (build-appliance fetch-rpms --photon "
            f"{ctx.detected.release} --out DIR gets them), use --fetch-missing, or start from the full Photon ISO"
        )
        raise InvalidInput(
            f"the ISO's repository lacks {len(missing)} package(s) the appliance needs: "
            + "; ".join(lines[:20]) + ("; ..." if len(lines) > 20 else "") + f". To fix: {hint}"
        )


def fetch_missing_rpms(ctx: BuildContext, wanted: list[str], available: list) -> Path:
    """--fetch-missing: download what the repository lacks into the cache; the directory to add."""
    options = ctx.config.fetch
    release = ctx.detected.release
    directory = Path(Cache.at(options.cache_dir).root) / f"rpms-{release}"
    fetch_rpms(release, wanted, available, directory, list(options.repo_urls) or None,
               lambda label, done, total: ctx.progress(label, done, total or 0),
               mirror=options.mirror, log=ctx.log)
    return directory


def _rpm_dir_packages(directory: Path, packages_from_rpms) -> list:
    if not directory.is_dir():
        raise InvalidInput(f"--rpm-dir {directory}: not a directory")
    paths = sorted(directory.glob("*.rpm"))
    if not paths:
        raise InvalidInput(f"--rpm-dir {directory}: no .rpm files in it")
    packages = []
    for path in paths:
        packages.extend(packages_from_rpms([path], _arch_dir(path) + "/"))
    return packages


def _arch_dir(path: Path) -> str:
    """The ISO's arch directory for an RPM: noarch/ or x86_64/ (Photon's layout)."""
    return "noarch" if read_rpm(path).arch == "noarch" else "x86_64"


def add_rpms(ctx: BuildContext) -> None:
    """Put --rpm-dir RPMs under /RPMS/<arch>/ and regenerate /RPMS/repodata, keeping what is there."""
    if not ctx.rpm_dirs:
        return

    image = ctx.image
    existing = parse_repodata(lambda relpath: image.read(f"{REPO_ROOT}/{relpath}"))
    by_href = {package.location_href: package for package in existing}
    for directory in ctx.rpm_dirs:
        for package in _rpm_dir_packages(directory, packages_from_rpms):
            source = directory / package.location_href.rsplit("/", 1)[1]
            old = by_href.get(package.location_href)
            if old is not None and old.checksum == package.checksum:
                continue
            by_href[package.location_href] = package
            ctx.new_files.append(NewFile(f"{REPO_ROOT}/{package.location_href}", source))
            ctx.rpms_added.append({"file": package.location_href, "sha256": package.checksum[1]
                                   if package.checksum[0] == "sha256" else file_digest(source)})
    if not ctx.rpms_added:
        ctx.log("rpm-dir: every RPM is already on the ISO; repodata unchanged")
        return
    files = image.files()
    old_metadata = [path for path in files if path.startswith(f"{REPO_ROOT}/repodata/")]
    ctx.remove.extend(old_metadata)
    metadata = write_repodata(sorted(by_href.values(), key=lambda package: package.location_href), ctx.config.epoch)
    for relpath, data in sorted(metadata.items()):
        ctx.new_files.append(NewFile(f"{REPO_ROOT}/{relpath}", data))
    # Photon 5 ISOs carry a relative repodata/primary.xml.gz symlink; keep one pointing at the new primary.
    link = f"{REPO_ROOT}/repodata/primary.xml.gz"
    primary = next((relpath for relpath in metadata if relpath.endswith("-primary.xml.gz")), None)
    if link in files and files[link].symlink_target is not None and primary:
        ctx.symlinks.append(NewSymlink(link, primary.rsplit("/", 1)[1]))
    ctx.log(f"rpm-dir: {len(ctx.rpms_added)} RPM(s) added, repodata regenerated for {len(by_href)} packages")


def add_payload(ctx: BuildContext) -> None:
    """The kickstart and the payload it copies onto the installed system."""
    profile = ctx.config.profile
    facts = {
        "appliance": profile.name,
        "version": profile.version,
        "photon_release": ctx.detected.release,
        "profile_sha256": profile_digest(profile),
    }
    tar = payload_tar(payload_files(profile, release_facts=facts), mtime=ctx.config.epoch)
    ctx.new_files.append(NewFile(PAYLOAD_PATH, tar))
    kickstart = build_kickstart(
        ctx.photon, hostname=profile.name, payload_on_media=PAYLOAD_PATH, payload_target=PAYLOAD_TARGET
    )
    if ctx.config.preinstall:
        kickstart = generalizing(kickstart)
    check_kickstart(kickstart, ctx.detected.installer)
    ctx.new_files.append(NewFile(KICKSTART_PATH, kickstart_json(kickstart), pad_with=b" "))


def edit_boot_menus(ctx: BuildContext) -> None:
    image, found = ctx.image, ctx.detected
    profile = ctx.config.profile
    title = f"Install {profile.name} {profile.version} (unattended, erases {ctx.photon.disk})"
    arguments = bootconfig.kernel_arguments(KICKSTART_PATH)
    if found.bios_loader == "isolinux":
        config = _text(image, isodetect.ISOLINUX_CFG)
        menu = _text(image, isodetect.ISOLINUX_MENU)
        default = bootconfig.isolinux_default(menu) or bootconfig.isolinux_default(config)
        ctx.new_files.append(NewFile(isodetect.ISOLINUX_CFG, bootconfig.edit_isolinux_cfg(config).encode()))
        ctx.new_files.append(NewFile(
            isodetect.ISOLINUX_MENU,
            bootconfig.edit_isolinux_menu(menu, arguments, title, default_label=default).encode(),
        ))
    if found.uefi or found.bios_loader == "grub":
        grub = _text(image, isodetect.GRUB_CFG)
        ctx.new_files.append(NewFile(isodetect.GRUB_CFG, bootconfig.edit_grub_cfg(grub, arguments, title).encode()))


def _text(image: IsoImage, path: str) -> str:
    return image.read(path).decode("utf-8", "replace")


def start_base_hash(ctx: BuildContext) -> threading.Thread:
    """Hash the input ISO in a thread while the build works (hashlib releases the GIL).

    An ISO whose SHA-256 is known and which is unchanged since (noted when
    the download cache verified it, or remembered from an earlier build)
    is not hashed again.
    """
    result = {}
    path = ctx.config.iso_path
    cache_root = Cache.at(ctx.config.fetch.cache_dir).root
    known = recorded_digests(path).get("sha256") or remembered_sha256(path, cache_root)

    def run():
        if known:
            result["sha256"] = known
            return
        try:
            stamp = identity_stamp(path)
            result["sha256"] = file_digest(path)
        except OSError as exc:
            result["error"] = exc
            return
        remember_sha256(path, stamp, result["sha256"], cache_root)

    thread = threading.Thread(target=run, name="base-iso-sha256", daemon=True)
    thread.result = result
    thread.start()
    return thread


def write_iso(ctx: BuildContext) -> None:
    """Remaster into a temporary file; it becomes the ISO output, the OVA's CD-ROM, or both."""
    temporary = ctx.staging(ctx.config.iso_out)
    total = ctx.image.size

    def progress(done, _total):
        ctx.progress("iso", done, _total or total)

    # The OVA's manifest needs the ISO's digest (the OVA stage copies the ISO while it is
    # computed); an ISO on its own is hashed only for SHA256SUMS.
    both = ctx.config.formats == "both"
    digest = remaster(
        ctx.image, temporary, ctx.new_files, remove=ctx.remove, symlinks=ctx.symlinks,
        epoch=ctx.config.epoch, progress=progress, digest=ctx.config.checksum or both, deferred=both,
    )
    ctx.iso_written = temporary
    if ctx.config.formats in ("iso", "both"):
        ctx.stage(ctx.config.iso_out)
    ctx.outputs["iso"] = {"file": ctx.config.iso_out.name, "size": temporary.stat().st_size}
    if both:
        ctx.iso_digest = digest
    elif digest:
        ctx.iso_sha256 = ctx.outputs["iso"]["sha256"] = digest


def check_output_iso(ctx: BuildContext) -> None:
    """Re-read what was written: it must open and carry the kickstart and the payload it names."""
    if ctx.iso_written is not None:
        with IsoImage(ctx.iso_written) as written:
            _check_written(written)
        return

    ova = staging_path(ctx.config.ova_out)
    member = next(entry for entry in read_ova(ova).members if entry.name.endswith(".iso"))
    with open(ova, "rb") as fp:
        with IsoImage(Path(member.name), FileWindow(fp, member.offset, member.size)) as written:
            _check_written(written)


def _check_written(written: IsoImage) -> None:
    for path in (KICKSTART_PATH, PAYLOAD_PATH):
        if path not in written.files():
            raise BuildError(f"the written ISO lacks {path}; this is a bug in build-appliance")
    kickstart = json.loads(written.read(KICKSTART_PATH))
    for entry in kickstart.get("additional_files", []):
        for source in entry:
            if source.startswith("/mnt/media/") and source[len("/mnt/media"):] not in written.files():
                raise BuildError(f"kickstart names {source}, which is not on the ISO; this is a bug")


def publish(ctx: BuildContext) -> None:
    """Swap the previous build's files for the new ones; all or nothing (see the module's docstring)."""
    finals = ctx.config.published
    moved_aside: dict[Path, Path] = {}
    placed: list[Path] = []
    with _interrupts_held():
        try:
            for final in reversed(finals):  # build-info.json first: no metadata while the outputs change
                if final.exists() or final.is_symlink():
                    os.replace(final, backup_path(final))
                    moved_aside[final] = backup_path(final)
            for final in finals:  # build-info.json last
                if final in ctx.staged:
                    os.replace(ctx.staged[final], final)
                    placed.append(final)
        except BaseException:
            for final in reversed(placed):
                with contextlib.suppress(OSError):
                    final.unlink()
            for final in finals:  # the old build back, its build-info.json last
                if final in moved_aside:
                    with contextlib.suppress(OSError):
                        os.replace(moved_aside[final], final)
            raise
    for final in placed:
        ctx.partials.remove(ctx.staged[final])
    for backup in moved_aside.values():
        with contextlib.suppress(OSError):
            backup.unlink()


@contextlib.contextmanager
def _interrupts_held():
    """Hold SIGINT and SIGTERM back while renaming; deliver them afterwards (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = {number: signal.signal(number, lambda signum, _frame: pending.append(signum))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pending:
            signal.raise_signal(pending[0])


def write_build_info(ctx: BuildContext, base_hash: threading.Thread) -> None:
    base_hash.join()
    if "error" in base_hash.result:
        raise InvalidInput(f"{ctx.config.iso_path}: read failed while hashing ({base_hash.result['error']})")
    info = {
        "tool": "build-appliance",
        "tool_version": __version__,
        "source_date_epoch": ctx.config.epoch,
        "base_iso": {
            "file": ctx.config.iso_path.name,
            "sha256": base_hash.result["sha256"],
            "photon_release": ctx.detected.release,
            "installer": ctx.detected.installer,
            "flavor": ctx.detected.flavor,
            "volume_label": ctx.detected.volume_label,
        },
        "profile": {
            "file": str(ctx.config.profile_path) if ctx.config.profile_path else "(embedded default)",
            "sha256": profile_digest(ctx.config.profile),
        },
        "rpms_added": ctx.rpms_added,
        **({"install": ctx.install} if ctx.install else {}),
        "outputs": [ctx.outputs[kind] for kind in ("iso", "ova") if kind in ctx.outputs],
    }
    _write_partial(ctx, ctx.config.info_out, json.dumps(info, indent=2) + "\n")


def write_checksums(ctx: BuildContext) -> None:
    """SHA256SUMS beside the outputs (`sha256sum -c SHA256SUMS` checks them); without
    --checksum, none is published and one left by an earlier build goes, as it would name other bytes."""
    if not ctx.config.checksum:
        return
    lines = "".join(f"{output['sha256']}  {output['file']}\n" for output in ctx.outputs.values())
    _write_partial(ctx, ctx.config.sums_out, lines)


def _write_partial(ctx: BuildContext, final: Path, text: str) -> None:
    """A small output, complete on disk (flushed and fsynced) under its partial name."""
    partial = ctx.staging(final)
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    ctx.stage(final)


def build(config: BuildConfig, *, progress: Progress | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Build the appliance outputs; returns the outputs as recorded in build-info.json."""
    ctx = BuildContext(config, progress or (lambda *_: None), log or (lambda _message: None))
    created = _prepare_out_dir(config)
    failed = True
    try:
        with step(ctx, "checking the profile"):
            check_settings(ctx)
        with step(ctx, "reading the input ISO"):
            open_input(ctx)
        base_hash = start_base_hash(ctx)
        with step(ctx, "checking that every package resolves"):
            check_packages(ctx)
        with step(ctx, "adding RPMs"):
            add_rpms(ctx)
        with step(ctx, "adding the kickstart and payload"):
            add_payload(ctx)
        with step(ctx, "editing the boot menus"):
            edit_boot_menus(ctx)
        if config.preinstall:
            with step(ctx, "writing the ISO to install from"):
                write_iso(ctx)
                check_output_iso(ctx)
            install_stage(ctx)
        elif config.formats == "ova":

            with step(ctx, "writing the OVA (the ISO straight into it)"):
                write_appliance_ova_direct(ctx)
                check_output_iso(ctx)
        else:
            with step(ctx, "writing the ISO"):
                write_iso(ctx)
                check_output_iso(ctx)
        if config.formats == "both" and not config.preinstall:

            with step(ctx, "writing the OVA"):
                write_appliance_ova(ctx)
        with step(ctx, "writing build-info.json"):
            write_build_info(ctx, base_hash)
            write_checksums(ctx)
        with step(ctx, "publishing the outputs"):
            publish(ctx)
        failed = False
        return ctx.outputs
    except OSError as exc:
        raise _os_error(exc, config)
    finally:
        with _interrupts_held():
            if ctx.image is not None:
                ctx.image.close()
            for partial in ctx.partials:
                with contextlib.suppress(OSError):
                    partial.unlink()
            if failed:
                _remove_created(created)


def _prepare_out_dir(config: BuildConfig) -> list[Path]:
    """Create --out if needed; the directories created, deepest first (a failed build removes them)."""
    out_dir = config.out_dir
    created = []
    directory = out_dir
    while not directory.exists() and directory != directory.parent:
        created.append(directory)
        directory = directory.parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_created(created)
        raise InvalidInput(f"--out {out_dir}: cannot create the directory ({exc.strerror})")
    if not os.access(out_dir, os.W_OK):
        raise InvalidInput(f"--out {out_dir}: not writable; choose another directory")
    for final in config.published:
        if final.is_dir() and not final.is_symlink():
            _remove_created(created)
            raise InvalidInput(f"--out {out_dir}: {final.name} is a directory; remove it or choose another --out")
    return created


def _remove_created(created: list[Path]) -> None:
    """Remove the directories this build created, if they are still empty."""
    for directory in created:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _os_error(exc: OSError, config: BuildConfig) -> BuildError:
    import errno

    if exc.errno == errno.ENOSPC:
        return InvalidInput(f"no space left on the device of {config.out_dir}; free space or choose another --out")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return InvalidInput(f"permission denied: {exc.filename or config.out_dir}")
    return InvalidInput(f"{exc.filename or 'I/O'}: {exc.strerror or exc}")


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
