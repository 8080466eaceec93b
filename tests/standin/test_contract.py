"""The stand-in root's Photon contract files, run with the real tools (no VM)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent / "contract" / "etc" / "systemd" / "scripts"


@pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("ip", "unshare", "iptables")),
                    reason="needs root, ip, unshare and iptables (scripts/test runs as root)")
def test_iptables_service_script_loads_ip4save_and_stop_opens_again():
    """/etc/systemd/scripts/iptables (what iptables.service runs) in a private network and mount namespace."""
    namespace = f"standin-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        # A private mount namespace where /etc/systemd/scripts is the contract's directory.
        shell = (f"mount -t tmpfs tmpfs /etc/systemd && mkdir /etc/systemd/scripts && "
                 f"mount --bind {SCRIPTS} /etc/systemd/scripts && "
                 f"ip netns exec {namespace} sh /etc/systemd/scripts/iptables && "
                 f"ip netns exec {namespace} iptables -S && echo STOP && "
                 f"ip netns exec {namespace} sh /etc/systemd/scripts/iptables.stop && "
                 f"ip netns exec {namespace} iptables -S")
        result = subprocess.run(["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    assert result.returncode == 0, result.stderr
    loaded, stopped = result.stdout.split("STOP")
    assert "-P INPUT DROP" in loaded and "-P FORWARD DROP" in loaded
    assert "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in loaded and "-A OUTPUT -j ACCEPT" in loaded
    assert "-P INPUT ACCEPT" in stopped and "-A INPUT" not in stopped
