"""streamOptimized VMDKs checked by qemu-img: empty disks, and raw images converted with their data."""

import io
import json
import os
import resource
import shutil
import subprocess

import pytest

from builder.errors import InvalidArtifact, InvalidInput
from builder.ova.vmdk import GRAIN, GrainMarker, SparseExtentHeader, read_vmdk_info, write_stream_optimized


def qemu_img(*args):
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (installed by scripts/test)")
    return subprocess.run(["qemu-img", *map(str, args)], capture_output=True, text=True, timeout=120)


def write(path, capacity, raw=None):
    with open(path, "wb") as out:
        if raw is None:
            return write_stream_optimized(out, capacity)
        with open(raw, "rb") as source:
            return write_stream_optimized(out, capacity, source)


def test_empty_16g_disk_is_accepted_by_qemu(tmp_path):
    path = tmp_path / "empty.vmdk"
    info = write(path, 16 * 2**30)
    assert info.populated_bytes == 0 and info.file_size == path.stat().st_size
    check = qemu_img("check", path)
    assert check.returncode == 0 and "No errors were found" in check.stdout, check.stdout + check.stderr
    details = json.loads(qemu_img("info", "--output=json", path).stdout)
    assert details["format"] == "vmdk" and details["virtual-size"] == 16 * 2**30
    assert details["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert details["format-specific"]["data"]["extents"][0]["compressed"] is True
    assert read_vmdk_info(open(path, "rb")) == info


def test_raw_image_converts_and_compares_identical(tmp_path):
    raw = tmp_path / "raw.img"
    size = 40 * 2**20 + 3 * 512  # not a whole number of grains
    with open(raw, "wb") as out:
        out.truncate(size)
        for offset in (0, GRAIN - 100, 5 * GRAIN, 20 * 2**20 + 7, size - 700):
            out.seek(offset)
            out.write(os.urandom(600))
    path = tmp_path / "data.vmdk"
    info = write(path, size, raw)
    assert qemu_img("check", path).returncode == 0
    compare = qemu_img("compare", raw, path)
    assert compare.returncode == 0 and "identical" in compare.stdout, compare.stdout + compare.stderr
    back = tmp_path / "back.img"
    assert qemu_img("convert", "-O", "raw", path, back).returncode == 0
    assert back.read_bytes() == raw.read_bytes()
    # grains 0 and 1 (one write straddles them), 5, 320 and the partial last grain 640
    assert info.grains == 5
    assert info.populated_bytes == 4 * GRAIN + (size - (size // GRAIN) * GRAIN)
    assert read_vmdk_info(open(path, "rb")).populated_bytes == info.populated_bytes


def test_identical_input_identical_bytes(tmp_path):
    data = os.urandom(3 * GRAIN)
    one, two = io.BytesIO(), io.BytesIO()
    write_stream_optimized(one, 4 * 2**20, io.BytesIO(data))
    write_stream_optimized(two, 4 * 2**20, io.BytesIO(data))
    assert one.getvalue() == two.getvalue()


def test_structures_round_trip():
    header = SparseExtentHeader(3, 0x30001, 2048, 128, 1, 20, 512, 0, 21, 128)
    assert SparseExtentHeader.parse(header.record()) == header
    marker = GrainMarker(256, 1234)
    assert GrainMarker.parse(marker.record()) == marker


def test_bad_capacity_and_oversized_source_are_refused():
    with pytest.raises(InvalidInput, match="multiple of 512"):
        write_stream_optimized(io.BytesIO(), 1000)
    with pytest.raises(InvalidInput, match="larger than the disk"):
        write_stream_optimized(io.BytesIO(), 2 * GRAIN, io.BytesIO(b"x" * (3 * GRAIN)))


def test_damaged_files_are_caught(tmp_path):
    good = io.BytesIO()
    write_stream_optimized(good, 4 * 2**20, io.BytesIO(os.urandom(GRAIN)))
    data = good.getvalue()
    with pytest.raises(InvalidArtifact, match="KDMV"):
        read_vmdk_info(io.BytesIO(b"\0" + data[1:]))
    with pytest.raises(InvalidArtifact, match="newline"):
        read_vmdk_info(io.BytesIO(data[:73] + b"\n\n\r\n" + data[77:]))
    with pytest.raises(InvalidArtifact, match="truncated"):
        read_vmdk_info(io.BytesIO(data[:20 * 512]))


def test_memory_stays_flat_converting_a_sparse_2g_image(tmp_path):
    raw = tmp_path / "sparse.img"
    with open(raw, "wb") as out:
        out.truncate(2 * 2**30)
        for offset in range(0, 2 * 2**30, 256 * 2**20):
            out.seek(offset)
            out.write(os.urandom(GRAIN))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = write(tmp_path / "sparse.vmdk", 2 * 2**30, raw)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert info.grains == 8
    assert grown_mb < 50, grown_mb
