"""The postinstall's generalization, run as the installer runs it (chrooted; tests/iso/test_postinstall.py's
root: the host's /usr under an overlay, a pseudo-terminal as the serial port)."""

from builder.preinstall import GENERALIZE_TAG, InstallWatch, generalizing
from tests.iso.test_postinstall import make_root, root, run_postinstall  # noqa: F401  (root is a fixture)


def _flagged(root_dir):
    script = root_dir / "tmp/tempscripts/builtin_postinstall.sh"
    lines = script.read_text().split("\n")
    script.write_text("\n".join(generalizing({"postinstall": lines})["postinstall"]))


def _installed_state(root_dir):
    (root_dir / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root_dir / "etc/ssh").mkdir(parents=True)
    for name in ("ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "sshd_config"):
        (root_dir / "etc/ssh" / name).write_text("x\n")
    (root_dir / "var/lib/appliance-agent").mkdir(parents=True)
    (root_dir / "var/lib/appliance-agent/state.json").write_text("{}\n")
    (root_dir / "var/log/journal/abc").mkdir(parents=True)
    (root_dir / "var/log/journal/abc/system.journal").write_text("journal\n")
    (root_dir / "var/log/installer.log").write_text("installer leftovers\n")


def test_generalization_removes_the_identity_and_reports_on_the_serial_port(root):
    make_root(root)
    _installed_state(root)
    _flagged(root)
    code, output, serial = run_postinstall(root, fail_unit="none")
    assert code == 0, output
    assert (root / "etc/machine-id").read_text() == ""  # empty, not missing: systemd makes a new one
    assert sorted(path.name for path in (root / "etc/ssh").iterdir()) == ["sshd_config"]
    assert not (root / "var/lib/appliance-agent").exists()
    assert list((root / "var/log/journal").iterdir()) == []
    assert (root / "var/log/installer.log").read_text() == ""
    log = (root / "var/log/appliance-install.log").read_text().splitlines()
    assert log[-1] == f"{GENERALIZE_TAG}: OK" and any(line.startswith("appliance-install: OK ") for line in log)
    watch = InstallWatch()
    results = [watch(line) for line in serial.splitlines()]
    assert results[-1] == "generalized" and watch.installed[0] == "photon-lb"


def test_without_the_flag_nothing_is_generalized(root):
    make_root(root)
    _installed_state(root)
    code, output, _serial = run_postinstall(root, fail_unit="none")
    assert code == 0, output
    assert (root / "etc/machine-id").read_text().strip() and (root / "var/lib/appliance-agent/state.json").exists()
    assert GENERALIZE_TAG not in (root / "var/log/appliance-install.log").read_text()


def test_a_failed_install_is_not_generalized(root):
    make_root(root)
    _installed_state(root)
    _flagged(root)
    code, _output, serial = run_postinstall(root, fail_unit="keepalived.service")
    assert code == 1 and GENERALIZE_TAG not in serial
    assert (root / "etc/machine-id").read_text().strip()
