"""The stand-in photon-installer's contract, without a VM (the VM tests are in tests/vm/test_end_to_end.py)."""

import importlib.machinery
import importlib.util
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.standin import initrd, root

SCRIPT = Path(__file__).resolve().parent / "initrd" / "photon-installer"


@pytest.fixture
def installer(tmp_path, monkeypatch):
    loader = importlib.machinery.SourceFileLoader("standin_photon_installer", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    monkeypatch.setattr(module, "LOG", str(tmp_path / "installer.log"))
    monkeypatch.setattr(module, "ROOT", str(tmp_path / "target"))
    monkeypatch.setattr(module, "MEDIA", str(tmp_path / "media"))
    return module


def config(installer, **keys):
    result = {"disk": "/dev/sda", **keys}
    installer.add_defaults(result)
    return result


def test_dualboot_layout_is_bios_boot_esp_then_root(installer):
    parts = installer.layout(config(installer))
    assert [(p["kind"], p["size"], p.get("mountpoint")) for p in parts] == [
        ("bios", 4, None), ("esp", 10, "/boot/efi"), ("linux", 0, "/")]


def test_unknown_key_and_missing_disk_are_fatal(installer):
    with pytest.raises(installer.InstallError, match="Unknown install_config keys: release_version"):
        installer.check_config(config(installer, release_version="5.0"))
    no_disk = config(installer)
    no_disk["disk"] = ""
    with pytest.raises(installer.InstallError, match="No disk configured"):
        installer.check_config(no_disk)


def test_kickstart_path_forms(installer, tmp_path, monkeypatch):
    (tmp_path / "media" / "appliance").mkdir(parents=True)
    (tmp_path / "media" / "appliance" / "ks.json").write_text('{"disk": "/dev/sdb"}')
    assert installer.load_kickstart({"ks": "cdrom:/appliance/ks.json"}, True) == {"disk": "/dev/sdb"}
    with pytest.raises(installer.InstallError, match="no cdrom specified"):
        installer.load_kickstart({"ks": "cdrom:/appliance/ks.json"}, False)
    with pytest.raises(installer.InstallError, match="not in correct format"):
        installer.load_kickstart({"ks": "/appliance/ks.json"}, True)
    monkeypatch.chdir(tmp_path / "media" / "appliance")
    assert installer.load_kickstart({"ks": "ks.json"}, False) == {"disk": "/dev/sdb"}


def test_additional_files_make_parents_and_drop_modes(installer, tmp_path):
    source = tmp_path / "media" / "payload.tar"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"payload")
    source.chmod(0o755)
    os.makedirs(tmp_path / "target")
    installer.copy_additional_files(config(installer, additional_files=[{str(source): "/var/tmp/new/payload.tar"}]))
    copied = tmp_path / "target" / "var" / "tmp" / "new" / "payload.tar"
    assert copied.read_bytes() == b"payload"
    assert not stat.S_IMODE(copied.stat().st_mode) & 0o111  # shutil.copyfile: the mode is not kept


def test_command_stderr_is_kept_only_when_it_fails(installer, tmp_path):
    # The words come from the environment so that the logged command line does not contain them.
    words = dict(os.environ, OUT="said", ERR="hidden-error", FAIL="failed-error")
    installer.run(["sh", "-c", 'echo "$OUT"; echo "$ERR" >&2'], env=words)
    installer.run(["sh", "-c", 'echo "$FAIL" >&2; exit 3'], check=False, env=words)
    log = (tmp_path / "installer.log").read_text()
    assert "said" in log and "hidden-error" not in log
    assert "failed-error" in log and "Error code: 3" in log


def test_postinstall_runs_chrooted_in_bash_and_its_status_is_ignored(installer, tmp_path, monkeypatch):
    calls = []

    def fake_run(command, check=True, **kwargs):
        script = tmp_path / "target" / "tmp" / "tempscripts" / "builtin_postinstall.sh"
        calls.append((command, check, script.read_text(), stat.S_IMODE(script.stat().st_mode)))
        return subprocess.CompletedProcess(command, 1, "", "")

    monkeypatch.setattr(installer, "run", fake_run)
    installer.run_postinstall(config(installer, postinstall=["#!/bin/bash", "exit 1"]))
    assert calls == [(["chroot", str(tmp_path / "target"), "/bin/bash", "-c", "/tmp/tempscripts/builtin_postinstall.sh"],
                      False, "#!/bin/bash\nexit 1", 0o700)]
    assert not (tmp_path / "target" / "tmp" / "tempscripts").exists()


@pytest.mark.skipif(shutil.which("createrepo_c") is None or shutil.which("rpmbuild") is None,
                    reason="needs createrepo_c and rpmbuild (installed by scripts/test)")
def test_a_package_missing_from_the_cd_repodata_stops_the_install(installer, tmp_path):
    from tests.repo.rpmfixtures import build_rpm

    repo = tmp_path / "media" / "RPMS"
    (repo / "x86_64").mkdir(parents=True)
    shutil.copy(build_rpm(tmp_path, "haproxy", version="2.8.2", release="1.ph5", arch="x86_64"), repo / "x86_64")
    subprocess.run(["createrepo_c", "--quiet", str(repo)], check=True)
    with pytest.raises(installer.InstallError, match="No matching packages: keepalived"):
        installer.install_packages(["haproxy", "keepalived"])


def test_launcher_keeps_the_stock_whole_string_rule():
    text = initrd.launcher()
    assert 'ACTIVE_CONSOLE="$(< /sys/devices/virtual/tty/console/active)"' in text
    assert '[ "$ACTIVE_CONSOLE" == "tty0" ]' in text and "[ \"$(tty)\" == '/dev/tty1' ] && install" in text
    assert '[ "$(tty)" == "/dev/$ACTIVE_CONSOLE" ] && install' in text
    assert text.rstrip().endswith("try_run_installer || exec /bin/bash")


def test_root_recipe_digest_follows_the_recipe(monkeypatch):
    before = root.recipe_digest()
    monkeypatch.setattr(root, "PACKAGES", root.PACKAGES + ["less"])
    assert root.recipe_digest() != before


def test_apt_mirror_is_read_from_deb822_and_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n")
    assert root.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert root.apt_mirror(tmp_path) == "http://other.example/debian"
    (tmp_path / "sources.list").unlink()
    assert root.apt_mirror(tmp_path) == root.DEFAULT_MIRROR
