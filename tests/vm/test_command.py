"""The qemu command line, built without running qemu: firmware, drives, boot order, networks."""

from pathlib import Path

import pytest

from builder.vm.host import Firmware
from builder.vm.machine import DirectKernel, Drive, Nic, VmSpec, qemu_command
from builder.vm.network import unix_link, udp_link

BIOS = Firmware("bios")
EFI = Firmware("efi", Path("/fw/OVMF_CODE_4M.fd"), Path("/fw/OVMF_VARS_4M.fd"))


def command(spec, **kwargs):
    kwargs.setdefault("accel", "tcg")
    return qemu_command(spec, qemu="qemu-system-x86_64", console=Path("/w/console.log"), **kwargs)


def pairs(words, flag):
    return [words[i + 1] for i, word in enumerate(words) if word == flag]


def test_bios_vm_uses_qemus_default_firmware_and_no_host_devices():
    words = command(VmSpec("a", BIOS, memory_mib=384, cpus=1))
    assert "-bios" not in words and "if=pflash" not in " ".join(words)
    assert pairs(words, "-serial") == ["file:/w/console.log"]
    assert pairs(words, "-m") == ["384"] and pairs(words, "-accel") == ["tcg"]
    # no default NIC (qemu adds user networking without -nodefaults), no display, no reboot loop
    assert "-nodefaults" in words and "-no-reboot" in words
    assert pairs(words, "-display") == ["none"] and "-netdev" not in words


def test_efi_vm_gets_read_only_code_and_its_own_nvram_copy():
    words = command(VmSpec("a", EFI), nvram=Path("/w/vars.fd"))
    drives = pairs(words, "-drive")
    assert "if=pflash,format=raw,unit=0,readonly=on,file=/fw/OVMF_CODE_4M.fd" in drives
    assert "if=pflash,format=raw,unit=1,file=/w/vars.fd" in drives
    with pytest.raises(ValueError):
        command(VmSpec("a", EFI))  # never the shared template


def test_kvm_uses_the_host_cpu_and_tcg_the_emulated_maximum():
    assert pairs(command(VmSpec("a", BIOS), accel="kvm"), "-cpu") == ["host"]
    assert pairs(command(VmSpec("a", BIOS)), "-cpu") == ["max"]


def test_disk_and_cds_on_sata_with_the_boot_device_first():
    spec = VmSpec("a", BIOS, drives=(
        Drive(Path("/w/disk.qcow2"), format="qcow2"),
        Drive(Path("/w/installer.iso"), media="cdrom", boot=True),
        Drive(Path("/w/env.iso"), media="cdrom"),
    ))
    words = command(spec)
    assert pairs(words, "-drive") == [
        "file=/w/disk.qcow2,format=qcow2,if=none,id=drive0",
        "file=/w/installer.iso,format=raw,if=none,id=drive1,media=cdrom,readonly=on",
        "file=/w/env.iso,format=raw,if=none,id=drive2,media=cdrom,readonly=on",
    ]
    assert pairs(words, "-device") == [
        "ide-hd,drive=drive0,bus=ide.0",
        "ide-cd,drive=drive1,bus=ide.1,bootindex=0",
        "ide-cd,drive=drive2,bus=ide.2",
    ]


def test_disk_on_pvscsi_like_the_ova():
    words = command(VmSpec("a", BIOS, disk_bus="pvscsi", drives=(Drive(Path("/w/d.raw"), boot=True),)))
    assert pairs(words, "-device") == ["pvscsi,id=scsi0", "scsi-hd,drive=drive0,bus=scsi0.0,bootindex=0"]
    with pytest.raises(ValueError):
        command(VmSpec("a", BIOS, disk_bus="floppy"))


def test_direct_kernel_boot():
    spec = VmSpec("a", BIOS, direct=DirectKernel(Path("/boot/vmlinuz"), Path("/w/initrd.gz"), "console=ttyS0 quiet"))
    words = command(spec)
    assert pairs(words, "-kernel") == ["/boot/vmlinuz"]
    assert pairs(words, "-initrd") == ["/w/initrd.gz"]
    assert pairs(words, "-append") == ["console=ttyS0 quiet"]


def test_private_link_over_unix_sockets_crosses_the_two_ends(tmp_path):
    link = unix_link(tmp_path)
    a = command(VmSpec("a", BIOS, nics=(Nic(link.a, "52:54:00:00:00:01", model="e1000"),)))
    b = command(VmSpec("b", BIOS, nics=(Nic(link.b, "52:54:00:00:00:02", model="e1000"),)))
    one, two = tmp_path / "link-a.sock", tmp_path / "link-b.sock"
    assert pairs(a, "-netdev") == [f"dgram,id=net0,local.type=unix,local.path={one},remote.type=unix,remote.path={two}"]
    assert pairs(b, "-netdev") == [f"dgram,id=net0,local.type=unix,local.path={two},remote.type=unix,remote.path={one}"]
    assert pairs(a, "-device") == ["e1000,netdev=net0,mac=52:54:00:00:00:01"]


def test_udp_link_on_loopback_and_the_pre_7_2_socket_netdev():
    link = udp_link()
    (host, port_a), (_host, port_b) = link.a.local, link.b.local
    assert host == "127.0.0.1" and port_a != port_b
    assert link.a.remote == link.b.local and link.b.remote == link.a.local
    assert link.a.netdev("n", dgram=False) == f"socket,id=n,udp=127.0.0.1:{port_b},localaddr=127.0.0.1:{port_a}"
    assert link.a.netdev("n").startswith("dgram,id=n,local.type=inet,local.host=127.0.0.1,")


def test_unix_link_needs_dgram(tmp_path):
    with pytest.raises(ValueError, match="7.2"):
        unix_link(tmp_path).a.netdev("n", dgram=False)


def test_user_networking_is_restricted_to_the_guest():
    words = command(VmSpec("a", BIOS, nics=(Nic(None, "52:54:00:00:00:03"),)))
    assert pairs(words, "-netdev") == ["user,id=net0,restrict=on"]
