"""The OVA stage: an empty system disk, the installer ISO as the CD-ROM, and the descriptor with the form.

The ISO's bytes were hashed while they were written, so here the kernel
copies them into the tar (and, with --checksum, the OVA's own hash reads
them once more); the disk is a few KiB of metadata, generated in memory.
"""

import hashlib
import io
from pathlib import Path

from ..iso.image import remaster
from .archive import OvaMember, padded_descriptor, write_ova, write_ova_in_place
from .ovf import OvfDisk, OvfFile, build_descriptor
from .vmdk import write_stream_optimized
from ..io.hashing import file_digest
from ..io.sparse import SparseReader


def member_names(base_name: str) -> tuple[str, str, str]:
    """(descriptor, disk, iso) names inside the OVA."""
    return f"{base_name}.ovf", f"{base_name}-disk1.vmdk", f"{base_name}-installer.iso"


def _disk(ctx) -> tuple[bytes, object]:
    disk = io.BytesIO()
    info = write_stream_optimized(disk, ctx.vm.disk_bytes)
    return disk.getvalue(), info


def _descriptor_for(ctx, disk_bytes: bytes, disk_info):
    """The descriptor as a function of the installer ISO's size."""
    _descriptor_name, disk_name, iso_name = member_names(ctx.config.base_name)

    def descriptor_for(iso_size: int) -> bytes:
        return build_descriptor(
            ctx.config.profile,
            disk=OvfDisk(disk_name, len(disk_bytes), disk_info.capacity_bytes, disk_info.populated_bytes),
            iso=OvfFile(iso_name, iso_size),
        )

    return descriptor_for


def write_appliance_ova_direct(ctx) -> None:
    """--format ova: the ISO is remastered straight into the OVA, never written anywhere else."""
    config = ctx.config
    descriptor_name, disk_name, iso_name = member_names(config.base_name)
    disk_bytes, disk_info = _disk(ctx)
    descriptor_for = _descriptor_for(ctx, disk_bytes, disk_info)

    def write_iso(window) -> str:
        ctx.iso_sha256 = remaster(
            ctx.image, window, ctx.new_files, remove=ctx.remove, symlinks=ctx.symlinks, epoch=config.epoch,
            progress=lambda done, total: ctx.progress("ova", done, total),
        )
        return ctx.iso_sha256

    written = write_ova_in_place(ctx.staging(config.ova_out), descriptor_name, descriptor_for,
                                 [(disk_name, disk_bytes)], iso_name, write_iso, mtime=config.epoch,
                                 whole_digest=config.checksum)
    _record(ctx, written)


def write_appliance_ova(ctx) -> None:
    config = ctx.config
    descriptor_name, disk_name, iso_name = member_names(config.base_name)
    disk_bytes, disk_info = _disk(ctx)
    iso_path: Path = ctx.iso_written
    iso_size = iso_path.stat().st_size
    descriptor = padded_descriptor(_descriptor_for(ctx, disk_bytes, disk_info), iso_size)

    # The ISO's digest may still be in the making on the other core: the kernel copies the
    # ISO into the OVA meanwhile, and the manifest is filled in at the end.
    members = [
        OvaMember(disk_name, len(disk_bytes), lambda out: out.write(disk_bytes),
                  hashlib.sha256(disk_bytes).hexdigest()),
        OvaMember(iso_name, iso_size, sha256=ctx.iso_digest, source=iso_path),
    ]
    written = write_ova(ctx.staging(config.ova_out), descriptor_name, descriptor, members, mtime=config.epoch,
                        progress=lambda done, total: ctx.progress("ova", done, total),
                        whole_digest=config.checksum)
    ctx.iso_sha256 = ctx.outputs["iso"]["sha256"] = written.digests[iso_name]
    _record(ctx, written)


def _record(ctx, written) -> None:
    config = ctx.config
    ctx.stage(config.ova_out)  # published with the other outputs by stages.publish
    ctx.outputs["ova"] = {"file": config.ova_out.name, "size": ctx.staging(config.ova_out).stat().st_size}
    if written.sha256:
        ctx.outputs["ova"]["sha256"] = written.sha256
    ctx.outputs["ova"]["members"] = [{"name": name, "sha256": digest} for name, digest in written.digests.items()]


def write_installed_ova(ctx, raw_disk: Path) -> None:
    """--preinstall: the installed raw disk as the streamOptimized VMDK, and no ISO in the OVA."""
    config = ctx.config
    descriptor_name, disk_name, _iso_name = member_names(config.base_name)
    vmdk = config.out_dir / f".{disk_name}.partial"
    ctx.partials.append(vmdk)
    with open(raw_disk, "rb") as raw, open(vmdk, "wb") as out:
        info = write_stream_optimized(out, ctx.vm.disk_bytes, SparseReader(raw),
                                      progress=lambda done, total: ctx.progress("disk", done, total))
    size = vmdk.stat().st_size
    descriptor = build_descriptor(config.profile, disk=OvfDisk(disk_name, size, info.capacity_bytes,
                                                               info.populated_bytes), iso=None)
    members = [OvaMember(disk_name, size, sha256=file_digest(vmdk), source=vmdk)]
    written = write_ova(ctx.staging(config.ova_out), descriptor_name, descriptor, members, mtime=config.epoch,
                        progress=lambda done, total: ctx.progress("ova", done, total),
                        whole_digest=config.checksum)
    _record(ctx, written)

