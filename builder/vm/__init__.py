"""Local qemu VMs for the build's optional install (--preinstall) and verify steps.

qemu is an optional dependency of those two features only: nothing else in
the builder imports this package. host.py finds qemu and the firmware,
accel.py probes KVM with a real boot, machine.py builds the command line and
runs one VM (serial console to a file, always cleaned up), serial.py follows
that console for marker lines, network.py links two VMs privately.
"""
