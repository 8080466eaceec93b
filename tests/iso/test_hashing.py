"""The output ISO's SHA-256 is computed while pycdlib writes it, not by reading the image back."""

import errno
import hashlib
import io
import os
import random

import pytest

from builder.iso import image as iso_module
from builder.iso.image import HashingWriter, IsoImage, NewFile

from . import fixtures
from .conftest import require


class SmallWindow(HashingWriter):
    LAG = 64 * 1024
    CHUNK = 16 * 1024


def file_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_out_of_order_writes_inside_the_window_give_the_file_digest(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "image"
    with open(path, "w+b") as raw:
        writer = SmallWindow(raw)
        position = 0
        for _ in range(400):
            kind = rng.random()
            if kind < 0.2:  # a patch shortly behind the furthest write
                target = max(0, position - rng.randrange(0, SmallWindow.LAG // 2))
            elif kind < 0.25:  # a jump far ahead, over a hole the file leaves as zeros
                target = position + rng.randrange(SmallWindow.LAG, 4 * SmallWindow.LAG)
            else:  # the next block, or a small gap
                target = position + rng.choice([0, 0, 0, 2048, 5000])
            data = rng.randbytes(rng.choice([512, 2048, 40_000, 100_000]))
            writer.seek(target)
            writer.write(data)
            position = max(position, target + len(data))
        writer.seek(position + 3 * SmallWindow.LAG)  # a tail that is only seeked over, as pycdlib pads
        writer.write(b"\0")
        writer.finish()
        assert writer.valid
        digest = writer.hexdigest()
    assert digest == file_digest(path)


def test_a_write_behind_the_window_invalidates_the_digest(tmp_path):
    with open(tmp_path / "image", "w+b") as raw:
        writer = SmallWindow(raw)
        for _ in range(3 * SmallWindow.LAG // 4096):
            writer.write(bytes(4096))
        writer.seek(0)
        writer.write(b"MBR")
        writer.finish()
        assert not writer.valid


@pytest.fixture(scope="module")
def spread_iso(tmp_path_factory):
    """An ISO whose files are far larger than the window, many of them in several directories."""
    require("xorriso", "grub-mkimage", "mkfs.vfat", "mcopy", "createrepo_c")
    return fixtures.make_photon_iso(tmp_path_factory.mktemp("spread"), installer_in_initrd="2.7",
                                    filler_bytes=48 * 2**20)


def test_remastering_never_reads_the_output_back(spread_iso, tmp_path, monkeypatch):
    def no_read_back(_fp):
        raise AssertionError("the output image was read back to hash it")

    monkeypatch.setattr(iso_module, "fileobj_sha256", no_read_back)
    ks = tmp_path / "ks.cfg"
    ks.write_text("{}\n")
    out = tmp_path / "out.iso"
    with IsoImage(spread_iso) as image:
        digest = iso_module.remaster(image, out, [NewFile("/isolinux/ks.cfg", ks), NewFile("/zz/late.txt", ks)],
                                     epoch=1735689600)
    assert digest == file_digest(out)


def _remaster(source, out, tmp_path):
    ks = tmp_path / "ks.cfg"
    ks.write_text("{}\n")
    with IsoImage(source) as image:
        return iso_module.remaster(image, out, [NewFile("/isolinux/ks.cfg", ks), NewFile("/zz/late.txt", ks)],
                                   epoch=1735689600)


def test_unchanged_file_data_is_copied_by_the_kernel_and_gives_the_same_image(spread_iso, tmp_path, monkeypatch):
    in_memory = io.BytesIO()  # no file descriptor: every byte goes through write()
    expected_digest = _remaster(spread_iso, in_memory, tmp_path)
    expected = in_memory.getvalue()
    assert expected_digest == hashlib.sha256(expected).hexdigest()

    copied = []
    real_copy = iso_module.copy_range

    def counting_copy(source, fd, offset):
        copied.append(source.size)
        real_copy(source, fd, offset)

    monkeypatch.setattr(iso_module, "copy_range", counting_copy)
    out = tmp_path / "out.iso"
    assert _remaster(spread_iso, out, tmp_path) == expected_digest
    assert out.read_bytes() == expected
    assert sum(copied) > 40 * 2**20  # the filler files went through the kernel, not through Python


def test_without_copy_file_range_the_same_image_is_written(spread_iso, tmp_path, monkeypatch):
    def refused(*_args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    expected = tmp_path / "expected.iso"
    digest = _remaster(spread_iso, expected, tmp_path)
    monkeypatch.setattr(os, "copy_file_range", refused)
    out = tmp_path / "out.iso"
    assert _remaster(spread_iso, out, tmp_path) == digest == file_digest(out)
    assert out.read_bytes() == expected.read_bytes()


def _extents(path):
    with IsoImage(path) as image:
        return {entry.path: (image._iso.get_record(rr_path=entry.path).extent_location(), entry.size)
                for entry in image.files().values() if entry.symlink_target is None}


@pytest.mark.parametrize("kickstart_size", [100, 3000])  # one sector or two: one of them shifts the rest oddly
def test_unchanged_data_keeps_its_place_within_a_page(spread_iso, tmp_path, kickstart_size):
    kickstart = b"{}" + b"\n" * (kickstart_size - 2)
    out = tmp_path / "out.iso"
    with IsoImage(spread_iso) as image:
        iso_module.remaster(image, out, [NewFile("/appliance/ks.json", kickstart, pad_with=b" ")],
                            epoch=1735689600, digest=False)
    before, after = _extents(spread_iso), _extents(out)
    odd = sum(size for path, (extent, size) in after.items() if path in before and (extent - before[path][0]) % 2)
    even = sum(size for path, (extent, size) in after.items() if path in before and not (extent - before[path][0]) % 2)
    assert odd < even, (odd, even)  # the bulk (the filler "RPMs") is aligned; files before the change may not be
    with IsoImage(out) as image:
        written = image.read("/appliance/ks.json")
    assert written.rstrip(b" ") == kickstart and len(written) in (kickstart_size, kickstart_size + 2048)
