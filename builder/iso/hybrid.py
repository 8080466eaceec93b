"""Make an isohybrid image's MBR and GPT agree with the image pycdlib wrote.

pycdlib rewrites the isohybrid MBR/GPT for the new image size but sizes the
backup GPT entry array for 128 entries whatever the header says (isohybrid
and xorriso use 248), so the backup array lands in the wrong place, and the
entry-array CRC it writes is wrong (xorriso -report_system_area: "GPT array
CRC wrong", "GPT backup problems"). This module rebuilds both GPT copies from
the primary entries and clamps MBR and GPT partitions to the image.

Layout facts: UEFI 2.10 section 5.3 (GPT header at LBA 1, entries, backup
header at the last LBA with its entries just before it, CRC32 of the entry
array and of the header with its CRC field zeroed) and section 5.2.1 (MBR
partition records at offset 446, signature 0x55AA at 510).
"""

import os
import struct
import zlib
from dataclasses import dataclass, replace
from typing import BinaryIO

from ..errors import InvalidArtifact

LBA = 512
GPT_SIGNATURE = b"EFI PART"
MBR_SIGNATURE = b"\x55\xaa"
# isohybrid pads images to whole 64-head, 32-sector cylinders.
CYLINDER = 64 * 32 * LBA


@dataclass(frozen=True)
class GptHeader:
    """The 92-byte GPT header (UEFI 2.10, table 5-5)."""

    FORMAT = struct.Struct("<8sIIIIQQQQ16sQIII")

    revision: int
    header_size: int
    crc: int
    my_lba: int
    alternate_lba: int
    first_usable: int
    last_usable: int
    disk_guid: bytes
    entries_lba: int
    entry_count: int
    entry_size: int
    entries_crc: int

    @classmethod
    def parse(cls, data: bytes) -> "GptHeader":
        fields = cls.FORMAT.unpack_from(data)
        if fields[0] != GPT_SIGNATURE:
            raise InvalidArtifact("isohybrid image: no GPT header signature at LBA 1")
        (_sig, revision, header_size, crc, _reserved, my_lba, alternate_lba, first_usable, last_usable,
         disk_guid, entries_lba, entry_count, entry_size, entries_crc) = fields
        return cls(revision, header_size, crc, my_lba, alternate_lba, first_usable, last_usable, disk_guid,
                   entries_lba, entry_count, entry_size, entries_crc)

    def record(self) -> bytes:
        return self.FORMAT.pack(
            GPT_SIGNATURE, self.revision, self.header_size, self.crc, 0, self.my_lba, self.alternate_lba,
            self.first_usable, self.last_usable, self.disk_guid, self.entries_lba, self.entry_count,
            self.entry_size, self.entries_crc,
        )

    def with_crc(self) -> "GptHeader":
        body = replace(self, crc=0).record().ljust(self.header_size, b"\0")[: self.header_size]
        return replace(self, crc=zlib.crc32(body))


@dataclass(frozen=True)
class MbrPartition:
    """One 16-byte MBR partition record (UEFI 2.10, table 5-2)."""

    FORMAT = struct.Struct("<B3sB3sII")

    status: int
    chs_first: bytes
    type: int
    chs_last: bytes
    first_lba: int
    sectors: int

    @classmethod
    def parse(cls, data: bytes) -> "MbrPartition":
        return cls(*cls.FORMAT.unpack_from(data))

    def record(self) -> bytes:
        return self.FORMAT.pack(self.status, self.chs_first, self.type, self.chs_last, self.first_lba, self.sectors)


def has_gpt(system_area: bytes) -> bool:
    return system_area[LBA : LBA + 8] == GPT_SIGNATURE


def repair(fp: BinaryIO) -> None:
    """Fix the MBR and GPT of the isohybrid image open read-write in `fp`."""
    fp.seek(0)
    head = fp.read(LBA * 2)
    if head[510:512] != MBR_SIGNATURE:
        return
    if has_gpt(head):
        _repair_gpt(fp)
    size_lba = fp.seek(0, os.SEEK_END) // LBA
    _clamp_mbr(fp, size_lba)


def _repair_gpt(fp: BinaryIO) -> None:
    fp.seek(LBA)
    primary = GptHeader.parse(fp.read(LBA))
    if primary.entry_size < 128 or primary.entry_count == 0 or primary.entry_count > 4096:
        raise InvalidArtifact("isohybrid image: implausible GPT entry array")
    array_bytes = primary.entry_count * primary.entry_size
    array_lbas = -(-array_bytes // LBA)
    fp.seek(primary.entries_lba * LBA)
    entries = bytearray(fp.read(array_bytes))

    size = fp.seek(0, os.SEEK_END)
    iso_end = _iso_end(fp)
    # The backup array and header must sit after the ISO's last block; pad by whole cylinders if not.
    if size // LBA - 1 - array_lbas < iso_end // LBA:
        size = -(-(iso_end + (array_lbas + 1) * LBA) // CYLINDER) * CYLINDER
        fp.truncate(size)
    last_lba = size // LBA - 1
    backup_entries_lba = last_lba - array_lbas
    last_usable = backup_entries_lba - 1

    for index in range(primary.entry_count):
        offset = index * primary.entry_size
        first, last = struct.unpack_from("<QQ", entries, offset + 32)
        if entries[offset : offset + 16] != bytes(16) and last > last_usable:
            struct.pack_into("<Q", entries, offset + 40, max(first, last_usable))
    entries_crc = zlib.crc32(bytes(entries))
    primary = replace(primary, alternate_lba=last_lba, last_usable=last_usable, entries_crc=entries_crc).with_crc()
    backup = replace(primary, my_lba=last_lba, alternate_lba=1, entries_lba=backup_entries_lba).with_crc()

    fp.seek(LBA)
    fp.write(primary.record().ljust(LBA, b"\0"))
    fp.seek(primary.entries_lba * LBA)
    fp.write(entries)
    fp.seek(backup_entries_lba * LBA)
    fp.write(bytes(entries).ljust(array_lbas * LBA, b"\0"))
    fp.seek(last_lba * LBA)
    fp.write(backup.record().ljust(LBA, b"\0"))


def _iso_end(fp: BinaryIO) -> int:
    """Bytes used by the ISO 9660 volume (PVD volume space size, ECMA-119 8.4.8)."""
    fp.seek(16 * 2048)
    pvd = fp.read(2048)
    if pvd[1:6] != b"CD001":
        raise InvalidArtifact("isohybrid image: no ISO 9660 primary volume descriptor at sector 16")
    blocks = struct.unpack_from("<I", pvd, 80)[0]
    block_size = struct.unpack_from("<H", pvd, 128)[0]
    return blocks * block_size


def _clamp_mbr(fp: BinaryIO, size_lba: int) -> None:
    fp.seek(446)
    table = fp.read(64)
    fixed = bytearray(table)
    for index in range(4):
        part = MbrPartition.parse(table[index * 16 : index * 16 + 16])
        if part.sectors and part.first_lba + part.sectors > size_lba:
            sectors = max(0, size_lba - part.first_lba)
            fixed[index * 16 : index * 16 + 16] = replace(part, sectors=sectors).record()
    if fixed != table:
        fp.seek(446)
        fp.write(fixed)
