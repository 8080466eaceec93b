"""The postinstall, run as the installer runs it (`chroot <root> /bin/bash -c <script>`), in a root
built here: the host's /usr under a private overlay (real bash, python3, tee, stty, useradd; what
the payload adds to /usr lands in the overlay, never on the host), the
appliance payload the build makes, a pseudo-terminal as the VM's serial port, a file as its
console. systemctl is a stand-in that fails for keepalived.service the way systemctl says so.

Checked: every line (errors included) reaches the log on the installed system, the console and
the serial port; the marker names what failed; the first-boot agent repeats it on the banner.
"""

import os
import select
import shutil
import subprocess

import pytest

from builder.iso import kickstart
from builder.iso.payload import PAYLOAD_TARGET, payload_files, payload_tar
from builder.profile import load_profile

from appliance_agent import pipeline
from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties

SYSTEMCTL = """#!/bin/bash
# systemctl enable in a root without systemd running: a missing unit fails as systemctl reports it.
echo "$*" >> /var/log/systemctl-calls
if [ "$1" = enable ] && [ "$2" = "$FAIL_UNIT" ]; then
    echo "Failed to enable unit: Unit file $2 does not exist." >&2
    exit 1
fi
echo "Created symlink /etc/systemd/system/multi-user.target.wants/$2 -> /usr/lib/systemd/system/$2."
"""


def make_root(root, *, console_active="tty0"):
    for directory in ("usr", "etc", "dev", "tmp/tempscripts", "var/tmp", "var/log", "sys/class/tty/console",
                      "stubs", "root"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "sbin", "lib", "lib64"):
        os.symlink(f"usr/{name}", root / name)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\n")
    (root / "etc/issue").write_text("Welcome to Photon 5.0 (\\m) - Kernel \\r (\\l)\n")
    (root / "sys/class/tty/console/active").write_text(console_active + "\n")
    (root / "dev/console").write_text("")
    (root / "dev/null").write_text("")
    stub = root / "stubs/systemctl"
    stub.write_text(SYSTEMCTL)
    stub.chmod(0o755)
    profile = load_profile(None)
    facts = {"appliance": profile.name, "version": profile.version, "photon_release": "5.0", "profile_sha256": "0"}
    (root / PAYLOAD_TARGET.lstrip("/")).write_bytes(payload_tar(payload_files(profile, release_facts=facts), mtime=0))
    # The installer writes the kickstart's lines joined by "\n", mode 0700.
    script = root / "tmp/tempscripts/builtin_postinstall.sh"
    script.write_text("\n".join(kickstart.postinstall_lines()))
    script.chmod(0o700)
    return profile


def run_postinstall(root, *, fail_unit, serial=True):
    """Run the script chrooted in a private mount namespace; return (exit code, stdout, serial text)."""
    master = slave_path = None
    binds = [("/dev/null", "dev/null")]
    for directory in ("overlay/upper", "overlay/work"):
        (root.parent / directory).mkdir(parents=True, exist_ok=True)
    if serial:
        master, slave = os.openpty()
        slave_path = os.ttyname(slave)
        (root / "dev/ttyS0").write_text("")
        binds.append((slave_path, "dev/ttyS0"))
    mounts = " && ".join(f"mount --bind {source} {root}/{target}" for source, target in binds)
    overlay = (f"mount -t overlay overlay -o lowerdir=/usr,upperdir={root.parent}/overlay/upper,"
               f"workdir={root.parent}/overlay/work {root}/usr")
    command = (f"mount --make-rprivate / && {overlay} && {mounts} && "
               f"exec chroot {root} /bin/bash -c /tmp/tempscripts/builtin_postinstall.sh")
    env = {"PATH": "/stubs:/usr/sbin:/usr/bin:/sbin:/bin", "FAIL_UNIT": fail_unit, "HOME": "/root", "LANG": "C"}
    result = subprocess.run(["unshare", "--mount", "sh", "-c", command], capture_output=True, text=True,
                            env=env, timeout=120)
    serial_text = ""
    if serial:
        os.close(slave)
        chunks = []
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunks.append(os.read(master, 65536))
            except OSError:
                break
        os.close(master)
        serial_text = b"".join(chunks).decode(errors="replace").replace("\r", "")
    return result.returncode, result.stdout + result.stderr, serial_text


@pytest.fixture
def root(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (mount namespace for the chroot)")
    return tmp_path / "root"


def test_failed_step_reaches_log_console_serial_marker_and_banner(root):
    profile = make_root(root)
    code, stdout, serial = run_postinstall(root, fail_unit="keepalived.service")
    marker = "appliance-install: FAILED enabling keepalived.service"
    log = (root / "var/log/appliance-install.log").read_text()
    console = (root / "dev/console").read_text()
    assert code == 1, stdout
    # every line, systemctl's own error included, in all three places; the marker last
    for text in (log, console, serial, stdout):
        lines = text.splitlines()
        assert "Failed to enable unit: Unit file keepalived.service does not exist." in lines, text
        assert "appliance postinstall: ERROR: enabling keepalived.service failed" in lines
        assert lines[-1] == marker
    # the other steps still ran: the payload is unpacked, the users exist, the other units enabled
    # (what went to /usr is in the overlay's upper layer once the namespace is gone)
    assert (root.parent / "overlay/upper/bin/appliance-agent").is_file()
    assert (root / "etc/appliance/profile.json").is_file()
    assert "haproxy:" in (root / "etc/passwd").read_text()
    assert "keepalived_script:" in (root / "etc/passwd").read_text()
    assert "enable haproxy.service" in (root / "var/log/systemctl-calls").read_text()
    assert (root / "etc/cloud/cloud-init.disabled").is_file()
    assert not (root / PAYLOAD_TARGET.lstrip("/")).exists()
    assert (root / "etc/issue").read_text().startswith(marker + " (see /var/log/appliance-install.log)")
    # first boot: the agent configures the node and keeps the failure on the console banner
    environment = build_environment(sample_properties(profile, "MASTER"))
    pipeline.configure(environment, profile, root=str(root), check=False)
    banner = (root / "etc/issue").read_text()
    assert banner.startswith(marker + " (see /var/log/appliance-install.log)\n")
    assert profile.name in banner


def test_clean_install_says_ok_with_name_and_version(root):
    profile = make_root(root)
    code, stdout, serial = run_postinstall(root, fail_unit="none")
    ok = f"appliance-install: OK {profile.name} {profile.version}"
    assert code == 0, stdout
    for text in ((root / "var/log/appliance-install.log").read_text(), (root / "dev/console").read_text(), serial):
        assert text.splitlines()[-1] == ok
    assert not (root / "etc/appliance/install-failed").exists()
    pipeline.configure(build_environment(sample_properties(profile, "MASTER")), profile, root=str(root), check=False)
    assert "appliance-install" not in (root / "etc/issue").read_text()


def test_no_serial_port_or_serial_console_means_no_second_copy(root):
    make_root(root, console_active="ttyS0")
    code, _stdout, serial = run_postinstall(root, fail_unit="none")
    # ttyS0 is the console here: /dev/console carries the lines, ttyS0 is not written a second time
    assert code == 0 and serial == ""
    assert (root / "dev/console").read_text().splitlines()[-1].startswith("appliance-install: OK ")
    shutil.rmtree(root)
    make_root(root)
    code, _stdout, serial = run_postinstall(root, fail_unit="none", serial=False)
    assert code == 0 and serial == ""
    assert (root / "var/log/appliance-install.log").read_text().splitlines()[-1].startswith("appliance-install: OK ")
