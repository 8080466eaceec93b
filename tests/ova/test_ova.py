"""The OVA: member order and tar format, manifest, disk facts in the descriptor, and `inspect`."""

import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from builder.ova.archive import OvaMember, read_ova, verify_ova, write_ova
from builder.ova.ovf import read_descriptor
from builder.ova.vmdk import read_vmdk_info

from .conftest import run_cli


def test_members_in_dsp0243_order_ustar_no_pax(built_ova):
    with tarfile.open(built_ova) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == ["photon-lb-1.0.0.ovf", "photon-lb-1.0.0.mf", "photon-lb-1.0.0-disk1.vmdk",
                     "photon-lb-1.0.0-installer.iso"]
    raw = built_ova.read_bytes()
    for member in members:
        assert raw[member.offset + 257 : member.offset + 265] == b"ustar\x0000"  # POSIX USTAR magic
        assert member.uid == member.gid == 0 and member.mode == 0o644 and not member.pax_headers
    listing = subprocess.run(["tar", "-tvf", str(built_ova)], capture_output=True, text=True, check=True).stdout
    assert len(listing.splitlines()) == 4
    # References order is the order of the files after the manifest
    descriptor = read_descriptor(tarfile.open(built_ova).extractfile(names[0]).read())
    assert [item["href"] for item in descriptor.files] == names[2:]


def test_manifest_digests_recomputed_independently(built_ova):
    with tarfile.open(built_ova) as tar:
        manifest = tar.extractfile("photon-lb-1.0.0.mf").read().decode()
        lines = manifest.splitlines()
        for name in ("photon-lb-1.0.0.ovf", "photon-lb-1.0.0-disk1.vmdk", "photon-lb-1.0.0-installer.iso"):
            digest = hashlib.sha256(tar.extractfile(name).read()).hexdigest()
            assert f"SHA256({name})= {digest}" in lines
    assert len(lines) == 3 and manifest.endswith("\n") and "\n\n" not in manifest


def test_descriptor_sizes_match_the_disk_and_the_files(built_ova, tmp_path):
    with tarfile.open(built_ova) as tar:
        descriptor = read_descriptor(tar.extractfile("photon-lb-1.0.0.ovf").read())
        sizes = {member.name: member.size for member in tar.getmembers()}
        vmdk = tar.extractfile("photon-lb-1.0.0-disk1.vmdk").read()
    for item in descriptor.files:
        assert item["size"] == sizes[item["href"]]
    disk = descriptor.disks[0]
    info = read_vmdk_info(io.BytesIO(vmdk))
    assert int(disk["capacity"]) * 2**30 == info.capacity_bytes == 16 * 2**30
    assert int(disk["populated_size"]) == info.populated_bytes
    if shutil.which("qemu-img"):
        (tmp_path / "d.vmdk").write_bytes(vmdk)
        check = subprocess.run(["qemu-img", "check", str(tmp_path / "d.vmdk")], capture_output=True, text=True)
        assert check.returncode == 0


def test_build_info_and_verify_agree(built_ova):
    info = json.loads((built_ova.parent / "build-info.json").read_text())
    ova = next(output for output in info["outputs"] if output["file"] == built_ova.name)
    assert ova["sha256"] == hashlib.sha256(built_ova.read_bytes()).hexdigest()
    iso = next(output for output in info["outputs"] if output["file"].endswith(".iso"))
    assert iso["sha256"] == next(m["sha256"] for m in ova["members"] if m["name"].endswith(".iso"))
    assert verify_ova(built_ova) == []
    # The ISO's data starts on a page boundary, so the kernel copies it page to page.
    assert read_ova(built_ova).members[-1].offset % 4096 == 0
    checked = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=built_ova.parent,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sorted(checked.stdout.splitlines()) == sorted(f"{output['file']}: OK" for output in info["outputs"])


def test_inspect_reports_and_catches_corruption(built_ova, tmp_path):
    result = run_cli("inspect", "--json", built_ova)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["manifest_verified"] and report["iso"]["photon_release"] == "5.0"
    assert len(report["descriptor"]["properties"]) == 25  # 24 on the form, appliance.selftest hidden
    assert report["disks"] == [{"file": "photon-lb-1.0.0-disk1.vmdk", "capacity_bytes": 16 * 2**30,
                                "populated_bytes": 0, "create_type": "streamOptimized"}]
    broken = tmp_path / "broken.ova"
    data = bytearray(built_ova.read_bytes())
    contents = read_ova(built_ova)
    iso = next(member for member in contents.members if member.name.endswith(".iso"))
    data[iso.offset + iso.size // 2] ^= 0xFF
    broken.write_bytes(bytes(data))
    result = run_cli("inspect", broken)
    assert result.returncode == 1 and "does not match the manifest" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_flags_missing_manifest_lines_and_pax(tmp_path):
    descriptor = b"<x/>"
    path = tmp_path / "a.ova"
    write_ova(path, "a.ovf", descriptor, [OvaMember("a.iso", 3, lambda out: out.write(b"abc"))], mtime=0)
    assert verify_ova(path) == []
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    pax = tmp_path / "pax.ova"
    with tarfile.open(pax, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member.name.endswith(".mf"):
                data = data.splitlines(keepends=True)[0]  # drop the a.iso line
                member.size = len(data)
            member.pax_headers = {"comment": "x"}
            tar.addfile(member, io.BytesIO(data))
    problems = verify_ova(pax)
    assert any("pax" in problem for problem in problems)
    assert any("a.iso is not listed in the manifest" in problem for problem in problems)


def test_failing_member_leaves_no_file(tmp_path):
    def boom(out):
        out.write(b"ab")
        raise OSError(28, "No space left on device")

    path = tmp_path / "a.ova"
    with pytest.raises(OSError):
        write_ova(path, "a.ovf", b"<x/>", [OvaMember("a.iso", 3, boom)], mtime=0)
    assert list(tmp_path.iterdir()) == []


def test_two_builds_give_identical_ovas(built_ova, full_iso, tmp_path):
    result = run_cli("build", "--iso", full_iso, "--out", tmp_path, "--format", "ova")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["build-info.json", built_ova.name]
    assert (tmp_path / built_ova.name).read_bytes() == built_ova.read_bytes()
    # Without --checksum the OVA is not hashed as a whole; its manifest's digests are recorded all the same.
    info = json.loads((tmp_path / "build-info.json").read_text())
    assert [sorted(output) for output in info["outputs"]] == [["file", "members", "size"]]
    assert verify_ova(tmp_path / built_ova.name) == []

    result = run_cli("build", "--iso", full_iso, "--out", tmp_path, "--format", "ova", "--checksum")
    assert result.returncode == 0, result.stderr
    ova = json.loads((tmp_path / "build-info.json").read_text())["outputs"][0]
    assert ova["sha256"] == hashlib.sha256(built_ova.read_bytes()).hexdigest()
    assert (tmp_path / "SHA256SUMS").read_text() == f"{ova['sha256']}  {built_ova.name}\n"


def test_both_without_checksum_copies_the_iso_while_it_is_hashed(built_ova, full_iso, tmp_path):
    # The manifest is filled in after the copy, from the digest computed meanwhile: same bytes.
    result = run_cli("build", "--iso", full_iso, "--out", tmp_path, "--format", "both")
    assert result.returncode == 0, result.stderr
    ova = tmp_path / built_ova.name
    assert ova.read_bytes() == built_ova.read_bytes()
    assert verify_ova(ova) == []
    iso_output, ova_output = json.loads((tmp_path / "build-info.json").read_text())["outputs"]
    iso = tmp_path / iso_output["file"]
    assert iso_output == {"file": iso.name, "size": iso.stat().st_size,
                          "sha256": hashlib.sha256(iso.read_bytes()).hexdigest()}
    assert "sha256" not in ova_output and not (tmp_path / "SHA256SUMS").exists()
