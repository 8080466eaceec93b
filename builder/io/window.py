"""A file object over a region of another file: an OVA member written or read in place."""

import io
import os
from typing import BinaryIO


class FileWindow(io.RawIOBase):
    """Offsets 0.. of this object are offsets `base`.. of `fp`.

    Reads stop at `size` when one is given (a member of known length);
    writes, seeks from the end and truncate work on the open-ended region
    after `base` (a member being written).
    """

    def __init__(self, fp: BinaryIO, base: int, size: int | None = None, *, writable: bool = False):
        self._fp, self._base, self._size, self._pos = fp, base, size, 0
        self._writable = writable
        self.mode = "r+b" if writable else "rb"

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def _end(self) -> int:
        if self._size is not None:
            return self._size
        return max(0, self._fp.seek(0, os.SEEK_END) - self._base)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        origin = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._end()}[whence]
        self._pos = max(0, origin + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        limit = len(buffer) if self._size is None else max(0, min(len(buffer), self._size - self._pos))
        if limit == 0:
            return 0
        self._fp.seek(self._base + self._pos)
        data = self._fp.read(limit)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def write(self, data) -> int:
        if not self._writable:
            raise io.UnsupportedOperation("read-only window")
        self._fp.seek(self._base + self._pos)
        written = self._fp.write(data)
        self._pos += written
        return written

    def truncate(self, size: int | None = None) -> int:
        if not self._writable:
            raise io.UnsupportedOperation("read-only window")
        size = self._pos if size is None else size
        self._fp.truncate(self._base + size)
        return size

    def kernel_target(self) -> tuple[int, int]:
        """(file descriptor, offset of this window in it), for copies made by the kernel."""
        return self._fp.fileno(), self._base

    def flush(self) -> None:
        if not self._fp.closed:
            self._fp.flush()
