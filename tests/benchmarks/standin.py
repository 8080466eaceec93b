"""How long the stand-in fixtures take to build from nothing (tests/standin).

    python3 tests/benchmarks/standin.py [--keep]

Builds the Photon stand-in root with mmdebstrap into an empty temporary cache
(so nothing is reused), then its installer initrd and the fixture ISO, and
prints the seconds and sizes of each. --keep leaves the temporary cache.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.standin import iso, root  # noqa: E402


def timed(label, action):
    started = time.monotonic()
    result = action()
    print(f"{label}: {time.monotonic() - started:.1f} s, {result.stat().st_size / 2**20:.0f} MiB ({result.name})")
    return result


def main():
    cache = Path(tempfile.mkdtemp(prefix="standin-bench-"))
    try:
        tarball = timed("stand-in root (mmdebstrap, fresh)", lambda: root.standin_root(cache, log=lambda line: None))
        timed("installer initrd", lambda: iso.standin_initrd_image(tarball, cache))
        timed("fixture ISO (RPMs, repodata, xorriso)", lambda: iso.standin_installer_iso(cache / "iso", tarball, cache=cache))
    finally:
        if "--keep" in sys.argv:
            print(f"kept {cache}")
        else:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
