"""Copying bytes between files inside the kernel, and byte ranges handed around by reference.

copy_file_range(2) moves data from page cache to page cache (or shares
extents where the file system can), so bytes the build does not change
never pass through Python. Where the kernel refuses it (across file
systems on some kernels, or a file system without it) a pread/pwrite loop
does the same job.
"""

import errno
import os
from dataclasses import dataclass
from typing import Iterator

from ..errors import InternalError

COPY_BLOCK = 1024 * 1024
_REFUSED = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)


@dataclass(frozen=True)
class SourceRange:
    """`size` bytes at `offset` of the open file `fd`; read only by whoever needs the bytes."""

    fd: int
    offset: int
    size: int

    def __len__(self) -> int:
        return self.size

    def pieces(self, buffer: bytearray | None = None) -> Iterator[bytes | memoryview]:
        """The bytes in blocks; with `buffer`, views of it, refilled for each block (no allocation)."""
        view = memoryview(buffer) if buffer is not None else None
        done = 0
        while done < self.size:
            want = min(len(buffer) if buffer is not None else COPY_BLOCK, self.size - done)
            if view is None:
                piece = os.pread(self.fd, want, self.offset + done)
            else:
                piece = view[: os.preadv(self.fd, [view[:want]], self.offset + done)]
            if not piece:
                raise InternalError(f"a source file ended {self.size - done} bytes early (was it changed during the build?)")
            done += len(piece)
            yield piece

    def read(self) -> bytes:
        return b"".join(self.pieces())


def copy_range(source: SourceRange, destination_fd: int, destination_offset: int) -> None:
    """Write the bytes of `source` at `destination_offset` of `destination_fd` (file positions untouched)."""
    copied = 0
    try:
        while copied < source.size:
            count = os.copy_file_range(source.fd, destination_fd, source.size - copied,
                                       source.offset + copied, destination_offset + copied)
            if count == 0:
                raise InternalError(f"a source file ended {source.size - copied} bytes early")
            copied += count
        return
    except OSError as exc:
        if exc.errno not in _REFUSED:
            raise
    rest = SourceRange(source.fd, source.offset + copied, source.size - copied)
    position = destination_offset + copied
    for piece in rest.pieces():
        view = memoryview(piece)
        while view:
            written = os.pwrite(destination_fd, view, position)
            view, position = view[written:], position + written
