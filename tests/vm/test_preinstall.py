"""--preinstall: markers read from the install VM's console, the installer's own boot, the OVA's descriptor
without an ISO, and real install VMs that fail (the fixture ISO's initrd only prints its command line)."""

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from builder import preinstall
from builder.iso.bootconfig import edit_grub_cfg, edit_isolinux_menu, kernel_arguments
from builder.ova.ovf import build_descriptor, OvfDisk, OvfFile
from builder.profile import load_profile
from builder.vm.installer import grub_entry, isolinux_entry, serial_arguments
from tests.iso import fixtures

from .conftest import require_qemu


def run_cli(*args):
    code = "import sys; from builder.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=900)


# ---------------------------------------------------------------- markers

def feed(lines):
    watch = preinstall.InstallWatch()
    results = [watch(line) for line in lines]
    return watch, results


def test_install_then_generalize_with_the_package_list():
    watch, results = feed([
        "[  OK  ] Started something.",
        "appliance-install: OK photon-lb 1.0.0\r",
        "appliance-generalize: PACKAGE haproxy 2.8.3-1.ph5.x86_64",
        "appliance-generalize: PACKAGE keepalived 2.2.7-3.ph5.x86_64",
        "appliance-generalize: PACKAGE haproxy 2.8.3-1.ph5.x86_64",  # the installer's log repeats lines
        "appliance-generalize: OK",
    ])
    assert results == [None, None, None, None, None, "generalized"]
    assert watch.installed == ("photon-lb", "1.0.0") and watch.generalized
    assert watch.packages == [{"name": "haproxy", "version": "2.8.3-1.ph5.x86_64"},
                              {"name": "keepalived", "version": "2.2.7-3.ph5.x86_64"}]


def test_failed_install_and_failed_generalization_give_the_reason():
    watch, results = feed(["appliance-install: FAILED enabling keepalived.service"])
    assert results == ["failed"] and watch.failure == "the install failed: enabling keepalived.service"
    watch, results = feed(["appliance-install: OK a 1", "appliance-generalize: FAILED emptying /etc/machine-id"])
    assert results[-1] == "failed" and "emptying /etc/machine-id" in watch.failure


def test_an_echoed_postinstall_script_is_no_marker():
    watch, _ = feed(['+ echo "appliance-install: OK $name $version"', "echo 'appliance-generalize: OK'"])
    assert watch.installed is None and not watch.generalized


def test_generalizing_kickstart_sets_the_flag_after_the_shebang():
    kickstart = {"postinstall": ["#!/bin/bash", "echo hi"], "disk": "/dev/sda"}
    changed = preinstall.generalizing(kickstart)
    assert changed["postinstall"] == ["#!/bin/bash", "APPLIANCE_GENERALIZE=yes", "echo hi"]
    assert kickstart["postinstall"] == ["#!/bin/bash", "echo hi"] and changed["disk"] == "/dev/sda"


def test_postinstall_generalizes_only_when_asked():
    from builder.iso.kickstart import postinstall_lines

    text = "\n".join(postinstall_lines())
    assert '[ "${APPLIANCE_GENERALIZE:-}" = yes ] && generalize_for_cloning' in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


# ---------------------------------------------------------------- the installer's boot

def test_install_boot_comes_from_the_edited_isolinux_entry():
    menu = edit_isolinux_menu(fixtures.STOCK_MENU_CFG, kernel_arguments("/appliance/ks.json"), "Install")
    entry = isolinux_entry(fixtures.STOCK_ISOLINUX_CFG, menu)
    assert (entry.kernel, entry.initrd) == ("/isolinux/vmlinuz", "/isolinux/initrd.img")
    words = serial_arguments(entry.arguments).split()
    assert "ks=cdrom:/appliance/ks.json" in words and "photon.media=cdrom" in words
    assert [word for word in words if word.startswith("console=")] == ["console=ttyS0,115200n8"]
    assert not any(word.startswith("initrd=") for word in words)


def test_install_boot_from_grub_drops_grub_variables():
    grub = edit_grub_cfg(fixtures.STOCK_GRUB_CFG, kernel_arguments("/appliance/ks.json"), "Install")
    entry = grub_entry(grub)
    assert (entry.kernel, entry.initrd) == ("/isolinux/vmlinuz", "/isolinux/initrd.img")
    words = serial_arguments(entry.arguments).split()
    assert "photon.media=cdrom" in words and not any("$" in word for word in words)


# ---------------------------------------------------------------- the OVA without an ISO

def test_installed_disk_descriptor_has_no_iso_and_no_cd(tmp_path, ovf_schemas):
    profile = load_profile(None)
    disk = OvfDisk("photon-lb-1.0.0-disk1.vmdk", 123456, 16 * 2**30, 900 * 2**20)
    with_iso = build_descriptor(profile, disk=disk, iso=OvfFile("x.iso", 1000))
    installed = build_descriptor(profile, disk=disk, iso=None)
    assert b"x.iso" in with_iso and b"vmware.cdrom.iso" in with_iso
    assert b".iso" not in installed and b"vmware.cdrom.iso" not in installed
    assert b"installed at build time" in installed and b"boots from its disk" in installed
    root = ET.fromstring(installed)
    assert len(root.findall("{http://schemas.dmtf.org/ovf/envelope/1}References/*")) == 1
    path = tmp_path / "installed.ovf"
    path.write_bytes(installed)
    checked = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(ovf_schemas / "ovf-envelope.xsd"), str(path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_preinstall_without_an_ova_is_refused(full_iso, tmp_path):
    result = run_cli("build", "--iso", full_iso, "--out", tmp_path / "out", "--format", "iso", "--preinstall")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: --preinstall makes the OVA's installed disk: use --format ova or both"


def _build_log(iso, out, formats, **config):
    from builder.stages import BuildConfig, build

    lines = []
    build(BuildConfig(iso_path=iso, profile=load_profile(None), profile_path=None, out_dir=out, formats=formats,
                      **config), log=lines.append)
    return [line for line in lines if line.startswith("warning:")]


def test_an_iso_carrying_ova_from_a_full_iso_warns_and_names_the_small_ways(full_iso, tmp_path, monkeypatch):
    from builder.iso.detect import PhotonIso

    # the fixture ISO has a few RPMs; a full one has over a thousand
    assert _build_log(full_iso, tmp_path / "a", "ova") == []
    monkeypatch.setattr(PhotonIso, "flavor", property(lambda self: "full"))
    warning = _build_log(full_iso, tmp_path / "b", "ova")
    assert len(warning) == 1 and "--preinstall" in warning[0] and "minimal ISO with --fetch-missing" in warning[0]
    assert _build_log(full_iso, tmp_path / "c", "iso") == []


# ---------------------------------------------------------------- real install VMs that fail

@pytest.mark.slow
def test_preinstall_of_an_iso_that_does_not_install_stops_with_the_console_log(full_iso, tmp_path):
    # The fixture's stand-in installer only reports how it was started: no install marker.
    require_qemu()
    out = tmp_path / "out"
    result = run_cli("build", "--iso", full_iso, "--out", out, "--format", "ova", "--preinstall")
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert lines[0].startswith("Error: the VM stopped (qemu exit status 0) before the install reported success")
    console = out / "photon-lb-1.0.0-install-console.log"
    assert f"Error: console log of the install VM: {console}" in lines
    # the installer kernel ran from the ISO with the kickstart and the serial port as its one console,
    # so the stock launcher started the (reporting) installer there
    report = next(line for line in console.read_text(errors="replace").splitlines()
                  if fixtures.INSTALLER_MARKER in line)
    assert "tty=/dev/ttyS0" in report.split()
    cmdline = report.split("cmdline=", 1)[1].split()
    assert "ks=cdrom:/appliance/ks.json" in cmdline
    assert [word for word in cmdline if word.startswith("console=")] == ["console=ttyS0,115200n8"]
    assert sorted(path.name for path in out.iterdir()) == [console.name]  # no OVA, no partials


@pytest.mark.slow
def test_install_that_outlives_the_time_limit_is_stopped(full_iso, tmp_path, monkeypatch):
    require_qemu()
    monkeypatch.setenv("BUILD_APPLIANCE_ACCEL", "tcg")
    console = tmp_path / "console.log"
    started = time.monotonic()
    with pytest.raises(preinstall.InstallFailed) as caught:
        preinstall.install(full_iso, tmp_path / "disk.raw", capacity=1 << 30, firmware="bios",
                           console_log=console, time_limit=2, memory_mib=256, cpus=1)
    assert time.monotonic() - started < 30
    message = str(caught.value).splitlines()
    assert message[0].startswith("the install did not finish within the time limit of 2 s (before the install")
    assert message[1] == f"console log of the install VM: {console}"
