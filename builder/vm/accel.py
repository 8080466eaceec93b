"""Which accelerator to run VMs with: KVM only when a KVM guest really boots, else TCG.

/dev/kvm being there proves nothing: on a host whose CPU lacks the
virtualization extensions (nested setups) /dev/kvm can exist, real-mode
code even runs, yet a Linux guest hangs before its first console line.
So the probe boots a real kernel, with no initrd: it initialises every
subsystem, panics for want of a root file system, and with `panic=-1`
and -no-reboot qemu exits. Under a working KVM that takes a second or
two; the probe gives it `timeout` seconds, then falls back to TCG
(software emulation, slow but the same everywhere) and says why.
"""

import functools
import glob
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .host import Firmware
from .machine import DirectKernel, Vm, VmSpec

PROBE_TIMEOUT = 20.0
PANIC = "Kernel panic"
ACCELERATORS = ("kvm", "tcg")
ENV_OVERRIDE = "BUILD_APPLIANCE_ACCEL"


@dataclass(frozen=True)
class Accelerator:
    name: str  # "kvm" or "tcg"
    reason: str  # one line: why this one

    def describe(self) -> str:
        label = "KVM" if self.name == "kvm" else "TCG (software emulation)"
        return f"{label}: {self.reason}"


def host_kernel() -> Path | None:
    """A readable kernel of the build machine, to probe with when the caller has none."""
    for path in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        if os.access(path, os.R_OK):
            return Path(path)
    return None


def choose_accelerator(kernel: Path | None = None, *, qemu: Path | str = "qemu-system-x86_64",
                       timeout: float = PROBE_TIMEOUT, kvm_device: str = "/dev/kvm") -> Accelerator:
    """KVM if a probe guest boots under it within `timeout`, else TCG; $BUILD_APPLIANCE_ACCEL forces one."""
    forced = os.environ.get(ENV_OVERRIDE, "").strip().lower()
    if forced in ACCELERATORS:
        return Accelerator(forced, f"chosen by {ENV_OVERRIDE}")
    if not os.access(kvm_device, os.R_OK | os.W_OK):
        return Accelerator("tcg", f"{kvm_device} is missing or not accessible")
    kernel = kernel or host_kernel()
    if kernel is None:
        return Accelerator("tcg", "no kernel to probe KVM with (none readable in /boot)")
    return _probe(str(kernel), str(qemu), timeout)


@functools.lru_cache(maxsize=None)
def _probe(kernel: str, qemu: str, timeout: float) -> Accelerator:
    works, detail = probe_kvm(Path(kernel), qemu=qemu, timeout=timeout)
    if works:
        return Accelerator("kvm", f"a probe guest booted in {detail}")
    return Accelerator("tcg", f"KVM is there but a probe guest {detail}")


def probe_kvm(kernel: Path, *, qemu: Path | str, timeout: float) -> tuple[bool, str]:
    """(True, "1.2 s") when the kernel boots to its panic under KVM within `timeout`, else (False, why)."""
    with tempfile.TemporaryDirectory(prefix="kvm-probe-") as workdir:
        console = Path(workdir) / "console.log"
        spec = VmSpec("kvm-probe", Firmware("bios"), memory_mib=128,
                      direct=DirectKernel(kernel, append="console=ttyS0 panic=-1 loglevel=1"))
        with Vm(spec, console=console, accel="kvm", qemu=qemu) as vm:
            outcome = vm.wait(lambda line: True if PANIC in line else None, timeout)
            if outcome.reason == "marker":
                return True, f"{outcome.seconds:.1f} s"
            if outcome.reason == "timeout":
                return False, f"printed nothing useful within {timeout:.0f} s"
            stderr = vm.stderr().strip().splitlines()
            return False, f"did not start (qemu: {stderr[-1] if stderr else 'exit %s' % outcome.returncode})"
