"""isohybrid images: the MBR and both GPT copies must be valid after pycdlib rewrites them."""

import subprocess

from builder.iso import hybrid
from builder.iso.image import IsoImage, NewFile, remaster

from .conftest import require


def system_area_report(path):
    result = subprocess.run(
        ["xorriso", "-indev", str(path), "-report_system_area", "plain"], capture_output=True, text=True, timeout=60
    )
    return result.stdout + result.stderr


def test_gpt_header_and_mbr_records_round_trip():
    header = hybrid.GptHeader(0x10000, 92, 0, 1, 32767, 64, 32704, bytes(range(16)), 2, 248, 128, 0).with_crc()
    assert hybrid.GptHeader.parse(header.record()) == header
    assert header.with_crc() == header
    part = hybrid.MbrPartition(0x80, b"\0\1\2", 0xEF, b"\3\4\5", 144, 6144)
    assert hybrid.MbrPartition.parse(part.record()) == part


def test_remastered_isohybrid_has_valid_mbr_and_gpt(hybrid_iso, tmp_path):
    require("xorriso")
    before = system_area_report(hybrid_iso)
    assert "GPT" in before and "CRC wrong" not in before
    out = tmp_path / "out.iso"
    with IsoImage(hybrid_iso) as image:
        assert image.has_isohybrid()
        digest = remaster(image, out, [NewFile("/appliance/big.bin", b"y" * 3_000_000)], epoch=1700000000)
    report = system_area_report(out)
    assert "GPT array CRC wrong" not in report and "GPT backup problems" not in report, report
    assert "MBR isohybrid" in report
    size_sectors = out.stat().st_size // 512
    for line in report.splitlines():
        if line.startswith("MBR partition      :"):
            _n, _status, _type, start, blocks = line.split(":", 1)[1].split()
            assert int(start) + int(blocks) <= size_sectors, line
        if line.startswith("GPT start and size :"):
            _n, start, blocks = line.split(":", 1)[1].split()
            assert int(start) + int(blocks) <= size_sectors, line
    import hashlib

    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()


def test_pycdlib_alone_leaves_the_gpt_broken(hybrid_iso, tmp_path, monkeypatch):
    # The negative control: without hybrid.repair xorriso reports the defects this module fixes.
    require("xorriso")
    monkeypatch.setattr(hybrid, "repair", lambda fp: None)
    out = tmp_path / "out.iso"
    with IsoImage(hybrid_iso) as image:
        remaster(image, out, [NewFile("/appliance/big.bin", b"y" * 3_000_000)], epoch=1700000000)
    report = system_area_report(out)
    assert "GPT array CRC wrong" in report or "GPT backup problems" in report
