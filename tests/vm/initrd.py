"""A tiny busybox initramfs for boot tests: an /init script, busybox, and kernel modules.

Written as a newc cpio archive in Python (the kernel's initramfs format,
linux/Documentation/driver-api/early-userspace/buffer-format.rst), so the
test controls every byte; modules come from the host's /lib/modules with
their dependencies from modules.dep, in load order.
"""

import gzip
import shutil
from pathlib import Path

BUSYBOX = "/bin/busybox"


def kernel_release(kernel: Path) -> str:
    return Path(kernel).name.removeprefix("vmlinuz-")


def module_paths(release: str, names: list[str]) -> list[Path]:
    """The modules' files with their dependencies first, each once."""
    root = Path("/lib/modules") / release
    dependencies = {}
    for line in (root / "modules.dep").read_text().splitlines():
        module, _, needs = line.partition(":")
        dependencies[Path(module).name.split(".ko")[0].replace("-", "_")] = (module, needs.split())
    ordered: list[str] = []

    def visit(relative: str):
        for needed in reversed(dependencies[_name(relative)][1]):
            visit(needed)
        if relative not in ordered:
            ordered.append(relative)

    for name in names:
        visit(dependencies[name.replace("-", "_")][0])
    return [root / relative for relative in ordered]


def _name(relative: str) -> str:
    return Path(relative).name.split(".ko")[0].replace("-", "_")


def _entry(name: str, mode: int, data: bytes = b"", ino: int = 0) -> bytes:
    encoded = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    pad = lambda size: b"\0" * (-size % 4)  # noqa: E731
    return header + encoded + pad(len(header) + len(encoded)) + data + pad(len(data))


def build_initrd(path: Path, init_script: str, *, kernel: Path | None = None, modules: list[str] = ()) -> Path:
    """Write a gzipped initramfs whose /init (run by busybox sh) is `init_script`."""
    if shutil.which("busybox") is None and not Path(BUSYBOX).exists():
        raise FileNotFoundError("busybox-static is not installed")
    entries = [
        _entry("bin", 0o040755, ino=1), _entry("dev", 0o040755, ino=2), _entry("proc", 0o040755, ino=3),
        _entry("sys", 0o040755, ino=4), _entry("modules", 0o040755, ino=5),
        _entry("bin/busybox", 0o100755, Path(BUSYBOX).read_bytes(), ino=6),
        _entry("bin/sh", 0o120777, b"busybox", ino=7),
        _entry("init", 0o100755, ("#!/bin/sh\n" + init_script).encode(), ino=8),
    ]
    loads = []
    if modules:
        for index, module in enumerate(module_paths(kernel_release(kernel), list(modules))):
            entries.append(_entry(f"modules/{module.name}", 0o100644, module.read_bytes(), ino=100 + index))
            loads.append(module.name)
    entries.append(_entry("modules/order", 0o100644, "".join(f"{name}\n" for name in loads).encode(), ino=99))
    entries.append(_entry("TRAILER!!!", 0))
    Path(path).write_bytes(gzip.compress(b"".join(entries), compresslevel=6, mtime=0))
    return Path(path)


# The start every test init shares: mounts, busybox applets on PATH, modules loaded in order.
PREAMBLE = """\
/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read module; do insmod /modules/$module; done < /modules/order
"""
