"""SHA-256 on a second core: data is hashed in a worker thread while the caller goes on writing.

hashlib releases the GIL for large buffers, so hashing and copying overlap
on a two-core machine. A SourceRange is read by the worker itself: bytes
the kernel copies pass through Python only there, and since a range holds
no data, any number may wait, so the copying runs ahead of the hash. At
most `depth` blocks of bytes wait, so memory does not grow with the file.
"""

import hashlib
import queue
import threading

from .kernelcopy import SourceRange

_STOP = object()


def file_digest(path, algorithm: str = "sha256") -> str:
    """Hex digest of a whole file (read into one reused buffer)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def fileobj_sha256(fp) -> str:
    """SHA-256 of everything in the file object `fp`, from offset 0."""
    fp.seek(0)
    return hashlib.file_digest(fp, "sha256").hexdigest()


class BackgroundHash:
    """feed() bytes or SourceRanges in order; hexdigest() waits for the worker and returns the digest."""

    def __init__(self, prefix: bytes = b"", depth: int = 8):
        self._digest = hashlib.sha256(prefix)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._bytes_slots = threading.BoundedSemaphore(depth)
        self._error: BaseException | None = None
        self._abandoned = False
        self._result: str | None = None
        self._buffer = bytearray(1024 * 1024)  # the worker's reads of SourceRanges land here
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            if block is _STOP:
                return
            try:
                if self._abandoned or self._error is not None:
                    pass
                elif isinstance(block, SourceRange):
                    for piece in block.pieces(self._buffer):
                        self._digest.update(piece)
                else:
                    self._digest.update(block)
            except BaseException as exc:  # surfaced by hexdigest()
                self._error = exc
            finally:
                if not isinstance(block, SourceRange):
                    self._bytes_slots.release()

    def feed(self, data) -> None:
        if isinstance(data, SourceRange):
            self._queue.put(data)
            return
        self._bytes_slots.acquire()
        # bytes are immutable, so they may wait in the queue; anything else is copied.
        self._queue.put(data if isinstance(data, bytes) else bytes(data))

    def hexdigest(self) -> str:
        if self._result is None:
            self._queue.put(_STOP)
            self._thread.join()
            if self._error is not None:
                raise self._error
            self._result = self._digest.hexdigest()
        return self._result

    def abandon(self) -> None:
        """Stop the worker without a result (on an error path), skipping what is still queued."""
        self._abandoned = True
        if self._result is None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
            self._result = ""
