"""streamOptimized VMDK (monolithic sparse, deflate-compressed grains), as OVF packages carry.

Layout follows open-vmdk's vmdk-convert, which vCenter and ESXi import
(../shared/reference/ovf.md section 4): header at sector 0 with the real
grain-directory offset, the descriptor in sectors 1-20, the grain directory
at sector 21 and every grain table right after it, grains from `overHead`
on (a marker with the grain's LBA and compressed size, then zlib data,
padded to a sector), and an end-of-stream sector. Zero grains are not
stored. Spec: "Virtual Disk Format 5.0" technote, sections on hosted sparse
extents and stream-optimized compressed extents.
"""

import os
import struct
import zlib
from dataclasses import dataclass, replace
from typing import BinaryIO, Callable

from ..errors import InvalidArtifact, InvalidInput

SECTOR = 512
GRAIN_SECTORS = 128  # 64 KiB grains
GRAIN = GRAIN_SECTORS * SECTOR
GTES_PER_GT = 512
GT_BYTES = GTES_PER_GT * 4
DESCRIPTOR_OFFSET = 1
DESCRIPTOR_SECTORS = 20
GD_OFFSET = DESCRIPTOR_OFFSET + DESCRIPTOR_SECTORS
MAGIC = 0x564D444B  # "KDMV" little-endian
GD_AT_END = 0xFFFFFFFFFFFFFFFF
# Technote: bit 0 valid newline test, bit 16 compressed grains, bit 17 markers.
FLAGS = 0x1 | 0x10000 | 0x20000
COMPRESSION_DEFLATE = 1
MAX_CAPACITY = 2**32 * SECTOR  # grain table entries are u32 sector numbers
MARKER_EOS, MARKER_GT, MARKER_GD, MARKER_FOOTER = 0, 1, 2, 3


@dataclass(frozen=True)
class SparseExtentHeader:
    """The 512-byte SparseExtentHeader (technote, "Header and footer")."""

    FORMAT = struct.Struct("<IIIQQQQIQQQB4sH433s")

    version: int
    flags: int
    capacity: int  # sectors
    grain_size: int  # sectors
    descriptor_offset: int
    descriptor_size: int
    gtes_per_gt: int
    rgd_offset: int
    gd_offset: int
    overhead: int  # sectors before the first grain
    unclean_shutdown: int = 0
    compress_algorithm: int = COMPRESSION_DEFLATE

    @classmethod
    def parse(cls, data: bytes) -> "SparseExtentHeader":
        if len(data) < cls.FORMAT.size:
            raise InvalidArtifact("not a VMDK (shorter than its 512-byte header)")
        (magic, version, flags, capacity, grain_size, descriptor_offset, descriptor_size, gtes_per_gt,
         rgd_offset, gd_offset, overhead, unclean, newlines, compress, _pad) = cls.FORMAT.unpack_from(data)
        if magic != MAGIC:
            raise InvalidArtifact("not a sparse VMDK (no KDMV magic)")
        # Technote: these four characters detect a file damaged by a text-mode transfer.
        if flags & 1 and newlines != b"\n \r\n":
            raise InvalidArtifact("VMDK header damaged by a text-mode (newline) conversion")
        return cls(version, flags, capacity, grain_size, descriptor_offset, descriptor_size, gtes_per_gt,
                   rgd_offset, gd_offset, overhead, unclean, compress)

    def record(self) -> bytes:
        return self.FORMAT.pack(
            MAGIC, self.version, self.flags, self.capacity, self.grain_size, self.descriptor_offset,
            self.descriptor_size, self.gtes_per_gt, self.rgd_offset, self.gd_offset, self.overhead,
            self.unclean_shutdown, b"\n \r\n", self.compress_algorithm, bytes(433),
        )


@dataclass(frozen=True)
class GrainMarker:
    """A compressed grain's marker: LBA (sectors) and compressed size, then the data."""

    FORMAT = struct.Struct("<QI")

    lba: int
    size: int

    @classmethod
    def parse(cls, data: bytes) -> "GrainMarker":
        return cls(*cls.FORMAT.unpack_from(data))

    def record(self) -> bytes:
        return self.FORMAT.pack(self.lba, self.size)


@dataclass(frozen=True)
class VmdkInfo:
    capacity_bytes: int
    file_size: int
    populated_bytes: int  # OVF ovf:populatedSize: the data of the stored grains, uncompressed
    grains: int = 0
    create_type: str = "streamOptimized"


def _sectors(size: int) -> int:
    return -(-size // SECTOR)


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % SECTOR)


def descriptor_text(capacity_sectors: int, cid: int) -> str:
    cylinders = min(65535, -(-capacity_sectors // (255 * 63)))
    return (
        "# Disk DescriptorFile\n"
        "version=1\n"
        'encoding="UTF-8"\n'
        f"CID={cid:08x}\n"
        "parentCID=ffffffff\n"
        'createType="streamOptimized"\n'
        "\n"
        "# Extent description\n"
        f'RW {capacity_sectors} SPARSE "disk1.vmdk"\n'
        "\n"
        "# The Disk Data Base\n"
        "#DDB\n"
        "\n"
        'ddb.adapterType = "lsilogic"\n'
        f'ddb.geometry.cylinders = "{cylinders}"\n'
        'ddb.geometry.heads = "255"\n'
        'ddb.geometry.sectors = "63"\n'
        f'ddb.longContentID = "{cid:08x}{cid:08x}{cid:08x}{cid:08x}"\n'
        'ddb.toolsInstallType = "4"\n'
        'ddb.toolsVersion = "2147483647"\n'
        'ddb.virtualHWVersion = "4"\n'
    )


def write_stream_optimized(
    out: BinaryIO,
    capacity_bytes: int,
    source: BinaryIO | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> VmdkInfo:
    """Write a streamOptimized VMDK of `capacity_bytes` to the seekable `out`, from position 0.

    `source` is a raw disk image (at most `capacity_bytes` long) read grain by
    grain, or None for an empty disk. The grain tables are written last, so
    `out` is seeked back once; memory holds one grain and the tables.
    """
    if capacity_bytes <= 0 or capacity_bytes % SECTOR:
        raise InvalidInput(f"disk capacity {capacity_bytes} must be a positive multiple of {SECTOR} bytes")
    if capacity_bytes > MAX_CAPACITY:
        raise InvalidInput(f"disk capacity {capacity_bytes} exceeds the 2 TiB a streamOptimized VMDK can address")
    capacity = capacity_bytes // SECTOR
    grains = -(-capacity // GRAIN_SECTORS)
    tables = -(-grains // GTES_PER_GT)
    gd_sectors = _sectors(tables * 4)
    gt_start = GD_OFFSET + gd_sectors
    overhead = gt_start + tables * (GT_BYTES // SECTOR)
    overhead += -overhead % GRAIN_SECTORS
    table = [0] * (tables * GTES_PER_GT)

    start = out.tell()
    out.write(bytes(overhead * SECTOR))
    position = overhead  # next free sector
    populated = 0
    stored = 0
    content_crc = 0
    if source is not None:
        for index in range(grains):
            grain = source.read(GRAIN)
            if not grain:
                break
            if grain.count(0) != len(grain):
                compressed = zlib.compress(grain, 6)
                record = _pad(GrainMarker(index * GRAIN_SECTORS, len(compressed)).record() + compressed)
                out.write(record)
                table[index] = position
                position += len(record) // SECTOR
                populated += len(grain)
                stored += 1
                content_crc = zlib.crc32(compressed, content_crc)
            if progress is not None:
                progress(min((index + 1) * GRAIN, capacity_bytes), capacity_bytes)
        if source.read(1):
            raise InvalidInput(f"the raw image is larger than the disk capacity ({capacity_bytes} bytes)")
    out.write(bytes(SECTOR))  # end-of-stream marker: an all-zero sector
    end = position + 1

    directory = [gt_start + number * (GT_BYTES // SECTOR) for number in range(tables)]
    cid = zlib.crc32(struct.pack("<Q", capacity), content_crc) or 1
    header = SparseExtentHeader(
        3, FLAGS, capacity, GRAIN_SECTORS, DESCRIPTOR_OFFSET, DESCRIPTOR_SECTORS, GTES_PER_GT, 0, GD_OFFSET,
        overhead,
    )
    descriptor = descriptor_text(capacity, cid).encode("ascii")
    out.seek(start)
    out.write(header.record())
    out.write(descriptor.ljust(DESCRIPTOR_SECTORS * SECTOR, b"\0"))
    out.write(_pad(struct.pack(f"<{tables}I", *directory)))
    out.write(struct.pack(f"<{len(table)}I", *table))
    out.seek(start + end * SECTOR)
    return VmdkInfo(capacity_bytes, end * SECTOR, populated, stored)


def read_vmdk_info(fp: BinaryIO) -> VmdkInfo:
    """Check a streamOptimized VMDK's structure and report its sizes (for `inspect`)."""
    fp.seek(0, os.SEEK_END)
    size = fp.tell()
    fp.seek(0)
    header = SparseExtentHeader.parse(fp.read(SECTOR))
    if header.gd_offset == GD_AT_END:
        # Technote: the footer (a header copy with the real offset) is the second-to-last sector.
        if size < 3 * SECTOR:
            raise InvalidArtifact("VMDK truncated: no room for its footer")
        fp.seek(size - 2 * SECTOR)
        header = replace(header, gd_offset=SparseExtentHeader.parse(fp.read(SECTOR)).gd_offset)
    if header.version not in (1, 2, 3):
        raise InvalidArtifact(f"VMDK version {header.version} is not supported (1 to 3)")
    if not header.flags & 0x10000 or header.compress_algorithm != COMPRESSION_DEFLATE:
        raise InvalidArtifact("not a stream-optimized VMDK (grains are not deflate-compressed)")
    if header.grain_size != GRAIN_SECTORS and (header.grain_size < 8 or header.grain_size & (header.grain_size - 1)):
        raise InvalidArtifact(f"VMDK grain size {header.grain_size} is not a power of two of 8 sectors or more")
    if header.gtes_per_gt != GTES_PER_GT:
        raise InvalidArtifact(f"VMDK has {header.gtes_per_gt} entries per grain table, expected {GTES_PER_GT}")
    if size < header.overhead * SECTOR:
        raise InvalidArtifact("VMDK truncated: shorter than its own metadata")
    fp.seek(header.descriptor_offset * SECTOR)
    descriptor = fp.read(header.descriptor_size * SECTOR).split(b"\0", 1)[0].decode("ascii", "replace")
    create_type = next((line.split("=", 1)[1].strip().strip('"') for line in descriptor.splitlines()
                        if line.startswith("createType=")), "")
    grain_bytes = header.grain_size * SECTOR
    grains = -(-header.capacity // header.grain_size)
    tables = -(-grains // header.gtes_per_gt)
    fp.seek(header.gd_offset * SECTOR)
    directory = struct.unpack(f"<{tables}I", _read_exact(fp, tables * 4, "grain directory"))
    stored = 0
    for number, table_sector in enumerate(directory):
        if table_sector == 0:
            continue
        fp.seek(table_sector * SECTOR)
        entries = struct.unpack(f"<{header.gtes_per_gt}I", _read_exact(fp, header.gtes_per_gt * 4, "grain table"))
        for slot, grain_sector in enumerate(entries):
            if grain_sector in (0, 1):
                continue
            if grain_sector * SECTOR + GrainMarker.FORMAT.size > size:
                raise InvalidArtifact("VMDK truncated: a grain table points past the end of the file")
            fp.seek(grain_sector * SECTOR)
            marker = GrainMarker.parse(_read_exact(fp, GrainMarker.FORMAT.size, "grain marker"))
            if marker.lba != (number * header.gtes_per_gt + slot) * header.grain_size:
                raise InvalidArtifact(f"VMDK grain at sector {grain_sector} carries the wrong LBA {marker.lba}")
            stored += 1
    last_grain = header.capacity * SECTOR - (grains - 1) * grain_bytes
    populated = stored * grain_bytes
    if stored and directory and _last_grain_stored(fp, header, directory, grains):
        populated -= grain_bytes - last_grain
    return VmdkInfo(header.capacity * SECTOR, size, populated, stored, create_type)


def _last_grain_stored(fp, header, directory, grains) -> bool:
    number, slot = divmod(grains - 1, header.gtes_per_gt)
    if directory[number] == 0:
        return False
    fp.seek(directory[number] * SECTOR + slot * 4)
    return struct.unpack("<I", fp.read(4))[0] not in (0, 1)


def _read_exact(fp: BinaryIO, count: int, what: str) -> bytes:
    data = fp.read(count)
    if len(data) != count:
        raise InvalidArtifact(f"VMDK truncated in its {what}")
    return data
