"""Small real boots: Debian's kernel and a busybox initramfs under qemu (TCG here).

The initramfs prints markers on the serial port, so these tests see what a
guest really did: its markers, its power-off, two guests exchanging a
random token over the private link. The cleanup tests start qemu paused
(-S): no boot, no CPU, in the default suite.
"""

import os
import secrets
import time

import pytest

from builder.vm.accel import choose_accelerator
from builder.vm.host import Firmware, find_firmware
from builder.vm.machine import DirectKernel, Nic, Vm, VmSpec
from builder.vm.network import unix_link
from builder.vm.serial import parse_marker

from .conftest import require_qemu
from .initrd import PREAMBLE, build_initrd

BOOT_BOUND = 120  # TCG on two shared cores: Debian's kernel reaches /init in 5-15 s
APPEND = "console=ttyS0 panic=-1 quiet"


def marker(tag="vm-test"):
    return lambda line: parse_marker(line, tag)


def boot_spec(name, kernel, initrd, firmware=Firmware("bios"), **kwargs):
    return VmSpec(name, firmware, memory_mib=192, direct=DirectKernel(kernel, initrd, APPEND), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("firmware", ["bios", "efi"])
def test_guest_prints_markers_and_powers_off(kernel, tmp_path, firmware):
    initrd = build_initrd(tmp_path / "initrd.gz", PREAMBLE + "echo 'vm-test: HELLO one two'\npoweroff -f\n")
    console = tmp_path / "console.log"
    with Vm(boot_spec("hello", kernel, initrd, find_firmware(firmware)), console=console, accel="tcg") as vm:
        seen = vm.wait(marker(), BOOT_BOUND)
        assert seen.reason == "marker", console.read_text(errors="replace")[-2000:]
        assert (seen.value.status, seen.value.words) == ("HELLO", ("one", "two"))
        off = vm.wait(None, 60)
        assert off.reason == "exited" and off.returncode == 0


@pytest.mark.slow
def test_wait_times_out_on_a_silent_guest(kernel, tmp_path):
    initrd = build_initrd(tmp_path / "initrd.gz", PREAMBLE + "echo 'vm-test: UP'\nsleep 600\n")
    with Vm(boot_spec("silent", kernel, initrd), console=tmp_path / "console.log", accel="tcg") as vm:
        assert vm.wait(marker(), BOOT_BOUND).reason == "marker"
        waited = vm.wait(marker(), 3)
        assert waited.reason == "timeout" and 3 <= waited.seconds
        assert vm.running


@pytest.mark.slow
def test_two_guests_exchange_a_token_over_the_private_link(kernel, tmp_path):
    token = secrets.token_hex(8)
    network = PREAMBLE + "ip link set eth0 up\nip addr add 192.0.2.{address}/24 dev eth0\n"
    listener = network.format(address=21) + (
        "echo 'vm-test: LISTENING'\n"
        "nc -l -p 7000 > /received\n"
        "echo \"vm-test: RECEIVED $(cat /received)\"\n"
        "poweroff -f\n")
    sender = network.format(address=22) + (
        "n=0\n"
        "until ping -c 1 -W 1 192.0.2.21 >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 120 ] && break; done\n"
        f"echo {token} | nc -w 5 192.0.2.21 7000 && echo 'vm-test: SENT'\n"
        "sleep 600\n")
    link = unix_link(tmp_path)
    spec_a = boot_spec("listener", kernel, build_initrd(tmp_path / "a.gz", listener, kernel=kernel, modules=["e1000"]),
                       nics=(Nic(link.a, "52:54:00:12:00:21", model="e1000"),))
    spec_b = boot_spec("sender", kernel, build_initrd(tmp_path / "b.gz", sender, kernel=kernel, modules=["e1000"]),
                       nics=(Nic(link.b, "52:54:00:12:00:22", model="e1000"),))
    with Vm(spec_a, console=tmp_path / "a.log", accel="tcg") as a, \
            Vm(spec_b, console=tmp_path / "b.log", accel="tcg") as b:
        assert a.wait(marker(), BOOT_BOUND).value.status == "LISTENING"
        received = a.wait(marker(), BOOT_BOUND)
        assert received.reason == "marker", (tmp_path / "b.log").read_text(errors="replace")[-2000:]
        assert received.value.words == (token,)
        assert b.wait(marker(), 30).value.status == "SENT"


@pytest.mark.slow
def test_kvm_probe_says_what_it_chose(monkeypatch):
    # On this CI machine /dev/kvm exists but a KVM guest never boots: the probe must fall back.
    require_qemu()
    monkeypatch.delenv("BUILD_APPLIANCE_ACCEL", raising=False)
    started = time.monotonic()
    chosen = choose_accelerator(timeout=15)
    assert time.monotonic() - started < 60
    assert chosen.name in ("kvm", "tcg") and chosen.reason
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert chosen.name == "tcg" and "/dev/kvm" in chosen.reason
    print(chosen.describe())


def test_accelerator_override(monkeypatch):
    monkeypatch.setenv("BUILD_APPLIANCE_ACCEL", "tcg")
    assert choose_accelerator().reason == "chosen by BUILD_APPLIANCE_ACCEL"
    monkeypatch.setenv("BUILD_APPLIANCE_ACCEL", "")
    assert choose_accelerator(kvm_device="/nonexistent/kvm").name == "tcg"


def _paused(tmp_path, firmware="efi"):
    require_qemu()
    return VmSpec("paused", find_firmware(firmware), memory_mib=64, extra=("-S",))


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of ours would answer too: wait() has reaped it when stop() returned
    return False


@pytest.mark.parametrize("exception", [RuntimeError, KeyboardInterrupt])
def test_vm_is_killed_and_its_files_removed_on_exceptions(tmp_path, exception):
    vm = Vm(_paused(tmp_path), console=tmp_path / "console.log", accel="tcg")
    with pytest.raises(exception):
        with vm:
            pid, private = vm.process.pid, vm.private
            assert vm.running and (private / "OVMF_VARS.fd").is_file()
            raise exception()
    assert _gone(pid) and not private.exists()
    assert (tmp_path / "console.log").exists()  # the caller's log stays


def test_qmp_quit(tmp_path):
    with Vm(_paused(tmp_path, "bios"), console=tmp_path / "c.log", accel="tcg", qmp=True) as vm:
        assert vm.qmp("query-status")["status"] == "prelaunch"
        vm.qmp("quit")
        assert vm.wait(None, 10).reason == "exited"


def test_qemu_refusing_to_start_is_seen_as_exit(tmp_path):
    spec = VmSpec("bad", Firmware("bios"), memory_mib=64, extra=("-no-such-option",))
    require_qemu()
    with Vm(spec, console=tmp_path / "c.log", accel="tcg") as vm:
        outcome = vm.wait(None, 10)
        assert outcome.reason == "exited" and outcome.returncode != 0
        assert "no-such-option" in vm.stderr()


@pytest.mark.slow
def test_every_marker_is_seen_even_when_they_arrive_together(kernel, tmp_path):
    script = PREAMBLE + "".join(f"echo 'vm-test: N{letter}'\n" for letter in "ABCDE") + "poweroff -f\n"
    initrd = build_initrd(tmp_path / "initrd.gz", script)
    with Vm(boot_spec("burst", kernel, initrd), console=tmp_path / "console.log", accel="tcg") as vm:
        seen = []
        while (outcome := vm.wait(marker(), BOOT_BOUND)).reason == "marker":
            seen.append(outcome.value.status)
        assert seen == [f"N{letter}" for letter in "ABCDE"] and outcome.reason == "exited"


@pytest.mark.slow
def test_host_writes_to_the_guests_serial_port(kernel, tmp_path):
    # the port is opened before the marker: a UART nobody has open drops what it receives
    script = PREAMBLE + ("exec 3< /dev/ttyS0\n"
                         "echo 'vm-test: WAITING'\n"
                         "read -r word <&3\n"
                         "echo \"vm-test: GOT $word\"\npoweroff -f\n")
    initrd = build_initrd(tmp_path / "initrd.gz", script)
    spec = VmSpec("input", Firmware("bios"), memory_mib=192, serial_input=True,
                  direct=DirectKernel(kernel, initrd, "console=ttyS0 panic=-1 quiet"))
    with Vm(spec, console=tmp_path / "console.log", accel="tcg") as vm:
        assert vm.wait(marker(), BOOT_BOUND).value.status == "WAITING"
        vm.send_serial("hello-guest\n")
        got = vm.wait(marker(), 60)
        assert got.reason == "marker" and got.value.words == ("hello-guest",)


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    # a child process that starts a paused VM, then gets SIGTERM: no qemu, no private files left
    import signal
    import subprocess
    import sys

    require_qemu()
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from builder.vm.host import find_firmware\n"
        "from builder.vm.machine import Vm, VmSpec, terminate_cleanly\n"
        "spec = VmSpec('term', find_firmware('efi'), memory_mib=64, extra=('-S',))\n"
        "with terminate_cleanly(), Vm(spec, console=Path(sys.argv[1]), accel='tcg') as vm:\n"
        "    print(vm.process.pid, vm.private, flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "c.log")], stdout=subprocess.PIPE,
                             text=True)
    pid, private = child.stdout.readline().split()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 143
    assert _gone(int(pid)) and not os.path.exists(private)
