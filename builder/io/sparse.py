"""Read a sparse file without reading its holes.

A freshly installed 16 GiB raw disk holds a few hundred MiB of data; the
rest are holes. Reading them costs as much as reading data, so the holes
found with SEEK_DATA/SEEK_HOLE are returned as zeros without a system call.
"""

import errno
import os

ZEROS = bytes(1 << 20)


class SparseReader:
    """A read()-only file object over `raw` (opened in binary mode), from its current offset 0."""

    def __init__(self, raw):
        self.raw = raw
        self.fd = raw.fileno()
        self.size = os.fstat(self.fd).st_size
        self.position = 0
        self.data_end = -1  # the current data run ends here (exclusive)

    def read(self, count: int = -1) -> bytes:
        """Exactly `count` bytes (fewer only at the end of the file), like a regular file's read."""
        if count < 0:
            count = self.size - self.position
        count = min(count, self.size - self.position)
        pieces = []
        while count > 0:
            piece = self._read_run(count)
            pieces.append(piece)
            count -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _read_run(self, count: int) -> bytes:
        """Up to `count` bytes from one hole or one data run."""
        if self.position >= self.data_end:
            hole_end = self._next_data()
            if hole_end > self.position:
                length = min(count, hole_end - self.position)
                self.position += length
                return ZEROS[:length] if length <= len(ZEROS) else bytes(length)
        length = min(count, self.data_end - self.position)
        data = os.pread(self.fd, length, self.position)
        if not data:
            raise OSError(f"{self.raw.name}: the file shrank while being read")
        self.position += len(data)
        return data

    def _next_data(self) -> int:
        """Where the next data starts (the hole before it is zeros); sets the end of that data run."""
        try:
            start = os.lseek(self.fd, self.position, os.SEEK_DATA)
        except OSError as exc:  # ENXIO: only a hole is left; no SEEK_DATA here: read it all as data
            start = self.size if exc.errno == errno.ENXIO else self.position
        start = min(start, self.size)
        try:
            self.data_end = os.lseek(self.fd, start, os.SEEK_HOLE) if start < self.size else self.size
        except OSError:
            self.data_end = self.size
        return start

