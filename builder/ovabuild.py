"""The OVA stage: an empty system disk, the installer ISO as the CD-ROM, and the descriptor with the form.

The ISO's bytes were hashed while they were written, so here they are read
once more, straight into the tar; the disk is a few KiB of metadata and is
generated in memory.
"""

import hashlib
import io
from pathlib import Path

from .ova import OvaMember, write_ova
from .ovf import OvfDisk, OvfFile, build_descriptor
from .vmdk import write_stream_optimized



def member_names(base_name: str) -> tuple[str, str, str]:
    """(descriptor, disk, iso) names inside the OVA."""
    return f"{base_name}.ovf", f"{base_name}-disk1.vmdk", f"{base_name}-installer.iso"


def write_appliance_ova(ctx) -> None:
    config = ctx.config
    descriptor_name, disk_name, iso_name = member_names(config.base_name)
    disk = io.BytesIO()
    disk_info = write_stream_optimized(disk, ctx.vm.disk_bytes)
    disk_bytes = disk.getvalue()
    iso_path: Path = ctx.iso_written
    iso_size = iso_path.stat().st_size
    descriptor = build_descriptor(
        config.profile,
        disk=OvfDisk(disk_name, len(disk_bytes), disk_info.capacity_bytes, disk_info.populated_bytes),
        iso=OvfFile(iso_name, iso_size),
    )

    # Both digests are known already (the ISO was hashed as it was written), so the
    # manifest goes in up front and the OVA is written, and hashed, front to back.
    members = [
        OvaMember(disk_name, len(disk_bytes), lambda out: out.write(disk_bytes),
                  hashlib.sha256(disk_bytes).hexdigest()),
        OvaMember(iso_name, iso_size, sha256=ctx.iso_sha256, source=iso_path),
    ]
    written = write_ova(config.ova_out, descriptor_name, descriptor, members, mtime=config.epoch,
                        progress=lambda done, total: ctx.progress("ova", done, total))
    ctx.outputs["ova"] = {
        "file": config.ova_out.name,
        "size": config.ova_out.stat().st_size,
        "sha256": written.sha256,
        "members": [{"name": name, "sha256": digest} for name, digest in written.digests.items()],
    }
