"""SHA-256 on a second core: data is hashed in a worker thread while the caller goes on writing.

hashlib releases the GIL for large buffers, so hashing and copying overlap
on a two-core machine. The queue is bounded, so at most a few blocks are
held in memory whatever the file size.
"""

import hashlib
import queue
import threading

_STOP = object()


class BackgroundHash:
    """feed() bytes in order; hexdigest() waits for the worker and returns the digest."""

    def __init__(self, prefix: bytes = b"", depth: int = 8):
        self._digest = hashlib.sha256(prefix)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._result: str | None = None
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            if block is _STOP:
                return
            try:
                self._digest.update(block)
            except BaseException as exc:  # surfaced by hexdigest()
                self._error = exc

    def feed(self, data) -> None:
        # bytes are immutable, so the worker may read them later; anything else is copied.
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
        """Stop the worker without a result (on an error path)."""
        if self._result is None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
            self._result = ""
