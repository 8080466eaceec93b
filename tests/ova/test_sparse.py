"""The sparse reader returns the file's exact bytes, holes as zeros, in any read size."""

import os

import pytest

from builder.io.sparse import SparseReader


@pytest.mark.parametrize("chunk", [4096, 65536, 3 << 20])
def test_sparse_reader_gives_the_same_bytes(tmp_path, chunk):
    path = tmp_path / "disk.raw"
    with open(path, "wb") as raw:
        raw.truncate(16 << 20)
        for offset in (0, 5 << 20, (16 << 20) - 100):
            raw.seek(offset)
            raw.write(os.urandom(100) + b"\0" * 50 + b"x")
    expected = path.read_bytes()
    with open(path, "rb") as raw:
        reader = SparseReader(raw)
        pieces = []
        while piece := reader.read(chunk):
            pieces.append(piece)
    assert b"".join(pieces) == expected
    # every read is whole, as the VMDK writer's grain by grain reading relies on
    assert all(len(piece) == chunk for piece in pieces[:-1])


def test_all_hole_and_empty_files(tmp_path):
    hole, empty = tmp_path / "hole.raw", tmp_path / "empty.raw"
    with open(hole, "wb") as raw:
        raw.truncate(3 << 20)
    empty.write_bytes(b"")
    with open(hole, "rb") as raw:
        reader = SparseReader(raw)
        assert reader.read(2 << 20) == bytes(2 << 20) and reader.read(2 << 20) == bytes(1 << 20)
        assert reader.read(10) == b""
    with open(empty, "rb") as raw:
        assert SparseReader(raw).read(10) == b""


def test_sparse_disk_converts_to_a_vmdk_qemu_img_finds_identical(tmp_path):
    import shutil
    import subprocess

    from builder.ova.vmdk import write_stream_optimized

    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (installed by scripts/test)")
    raw_path, vmdk = tmp_path / "disk.raw", tmp_path / "disk.vmdk"
    with open(raw_path, "wb") as raw:
        raw.truncate(64 << 20)
        for offset in (1 << 20, (7 << 20) + 12345, (40 << 20) - 3):  # data off the grain boundaries
            raw.seek(offset)
            raw.write(os.urandom(200_000))
    with open(raw_path, "rb") as raw, open(vmdk, "wb") as out:
        write_stream_optimized(out, 64 << 20, SparseReader(raw))
    compare = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "vmdk", str(raw_path), str(vmdk)],
                             capture_output=True, text=True)
    assert compare.returncode == 0, compare.stdout + compare.stderr
