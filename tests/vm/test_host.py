"""Missing qemu or firmware is one line naming the package; the files are found where distributions put them."""

import pytest

from builder.vm.host import Firmware, VmUnavailable, find_firmware, find_qemu, find_tool


def test_missing_qemu_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(VmUnavailable) as caught:
        find_qemu("--preinstall")
    message = str(caught.value)
    assert message == ("--preinstall needs qemu-system-x86_64: install qemu-system-x86 (Debian/Ubuntu), "
                       "qemu-system-x86-core (Fedora)")
    with pytest.raises(VmUnavailable, match="install qemu-utils"):
        find_tool("qemu-img", "verify")


def test_missing_firmware_names_the_package(tmp_path):
    with pytest.raises(VmUnavailable, match=r"^verify with UEFI needs OVMF .*install ovmf \(Debian/Ubuntu\)"):
        find_firmware("efi", "verify", search=[(tmp_path / "CODE.fd", tmp_path / "VARS.fd")])
    with pytest.raises(VmUnavailable, match=r"^verify with BIOS needs SeaBIOS .*install seabios \(Debian/Ubuntu\)"):
        find_firmware("bios", "verify", search=[tmp_path / "bios-256k.bin"])


def test_ovmf_needs_both_halves(tmp_path):
    code, variables = tmp_path / "CODE.fd", tmp_path / "VARS.fd"
    code.write_bytes(b"c")
    with pytest.raises(VmUnavailable):
        find_firmware("efi", search=[(code, variables)])
    variables.write_bytes(b"v")
    assert find_firmware("efi", search=[(tmp_path / "x", tmp_path / "y"), (code, variables)]) == \
        Firmware("efi", code, variables)


def test_override_pair_from_the_environment(monkeypatch, tmp_path):
    code, variables = tmp_path / "C.fd", tmp_path / "V.fd"
    code.write_bytes(b"c"), variables.write_bytes(b"v")
    monkeypatch.setenv("BUILD_APPLIANCE_OVMF_CODE", str(code))
    monkeypatch.setenv("BUILD_APPLIANCE_OVMF_VARS", str(variables))
    assert find_firmware("efi").code == code


def test_this_machine_has_both_firmwares():
    # scripts/test installs seabios (with qemu-system-x86) and ovmf
    assert find_firmware("bios").kind == "bios"
    efi = find_firmware("efi")
    assert efi.code.is_file() and efi.vars_template.is_file()
