"""Boot menu edits: unattended, idempotent, and faithful to what was there."""

import pytest

from builder.iso import bootconfig
from builder.errors import InvalidArtifact

from .fixtures import STOCK_GRUB_CFG, STOCK_ISOLINUX_CFG, STOCK_MENU_CFG

ARGS = bootconfig.kernel_arguments("/appliance/ks.json")


def test_isolinux_cfg_gets_serial_first_and_a_finite_timeout():
    edited = bootconfig.edit_isolinux_cfg(STOCK_ISOLINUX_CFG)
    lines = edited.splitlines()
    assert lines[0] == "serial 0 115200"
    assert "timeout 0" not in lines
    assert f"timeout {bootconfig.ISOLINUX_TIMEOUT}" in lines
    assert "include menu.cfg" in lines and "default vesamenu.c32" in lines
    assert bootconfig.edit_isolinux_cfg(edited) == edited


def test_menu_default_label_gets_kickstart_next_to_photon_media():
    edited = bootconfig.edit_isolinux_menu(STOCK_MENU_CFG, ARGS, "Install lb")
    append = next(line for line in edited.splitlines() if line.strip().startswith("append"))
    words = append.split()
    assert "photon.media=cdrom" in words and "initrd=initrd.img" in words
    assert "ks=cdrom:/appliance/ks.json" in words
    # no console=: the stock launcher then starts the installer on tty1, the VM console
    assert not any(word.startswith("console=") for word in words)
    assert "menu label ^Install lb" in edited
    assert bootconfig.edit_isolinux_menu(edited, ARGS, "Install lb") == edited


def test_menu_gets_a_serial_entry_with_one_console():
    edited = bootconfig.edit_isolinux_menu(STOCK_MENU_CFG, ARGS, "Install lb")
    labels = [line.split()[1] for line in edited.splitlines() if line.startswith("label ")]
    assert labels == ["install", bootconfig.SERIAL_LABEL]
    serial = edited.split(f"label {bootconfig.SERIAL_LABEL}", 1)[1]
    append = next(line for line in serial.splitlines() if line.strip().startswith("append"))
    words = append.split()
    assert [word for word in words if word.startswith("console=")] == ["console=ttyS0,115200n8"]
    assert "ks=cdrom:/appliance/ks.json" in words and "photon.media=cdrom" in words
    assert "menu label Install lb, installer on ^serial port ttyS0" in serial
    assert "menu default" not in serial
    # a new title replaces the old twin instead of adding another
    again = bootconfig.edit_isolinux_menu(edited, ARGS, "Install lb 2")
    assert again.count("label appliance-serial") == 1 and "Install lb 2, installer on" in again


def test_existing_console_arguments_are_dropped():
    line = "  append initrd=initrd.img console=ttyS1 console=tty0 photon.media=cdrom"
    words = bootconfig.add_arguments(line, ARGS, media="cdrom").split()
    assert not any(word.startswith("console=") for word in words)
    serial = bootconfig.add_arguments(line, bootconfig.serial_arguments(ARGS), media="cdrom").split()
    assert [word for word in serial if word.startswith("console=")] == ["console=ttyS0,115200n8"]


def test_menu_without_menu_default_uses_the_default_label():
    menu = "label rescue\n  kernel vmlinuz\n  append initrd=initrd.img rescue\nlabel install\n  kernel vmlinuz\n  append initrd=initrd.img\n"
    edited = bootconfig.edit_isolinux_menu(menu, ARGS, "Install", default_label="install")
    rescue, install = edited.split("label install")
    assert "ks=" not in rescue
    assert "ks=cdrom:/appliance/ks.json" in install and "photon.media=cdrom" in install


def test_menu_without_labels_is_refused():
    with pytest.raises(InvalidArtifact, match="no 'label'"):
        bootconfig.edit_isolinux_menu("default vesamenu.c32\n", ARGS, "Install")


def test_grub_default_entry_gets_kickstart_and_serial_is_optional():
    edited = bootconfig.edit_grub_cfg(STOCK_GRUB_CFG, ARGS, "Install lb")
    linux = next(line for line in edited.splitlines() if line.strip().startswith("linux "))
    assert "photon.media=UUID=$photondisk" in linux.split()
    assert "ks=cdrom:/appliance/ks.json" in linux.split()
    assert f"set timeout={bootconfig.GRUB_TIMEOUT}" in edited
    assert edited.count("if serial --unit=0") == 1
    assert 'menuentry "Install lb" {' in edited
    assert not any(word.startswith("console=") for word in linux.split())
    assert bootconfig.edit_grub_cfg(edited, ARGS, "Install lb") == edited


def test_grub_serial_entry_follows_the_default_with_one_console():
    edited = bootconfig.edit_grub_cfg(STOCK_GRUB_CFG, ARGS, "Install lb")
    titles = [line.split('"')[1] for line in edited.splitlines() if line.startswith("menuentry")]
    assert titles == ["Install lb", "Install lb, installer on serial port ttyS0"]
    serial = edited.split('menuentry "Install lb, installer on serial port ttyS0" {', 1)[1]
    linux = next(line for line in serial.splitlines() if line.strip().startswith("linux "))
    assert [word for word in linux.split() if word.startswith("console=")] == ["console=ttyS0,115200n8"]
    assert "photon.media=UUID=$photondisk" in linux.split() and "initrd /isolinux/initrd.img" in serial
    assert "set default=0" in edited  # the default stays the VM-console entry
    again = bootconfig.edit_grub_cfg(edited, ARGS, "Install lb 2")
    assert again.count("installer on serial port ttyS0") == 1


def test_grub_honours_set_default():
    config = 'set default=1\nmenuentry "a" {\n linux /a x=1\n}\nmenuentry "b" {\n linux /b y=2\n}\n'
    edited = bootconfig.edit_grub_cfg(config, ARGS, "Install")
    first, second = edited.split("menuentry", 2)[1:]
    assert "ks=" not in first and "ks=cdrom:" in second


def test_missing_photon_media_is_added():
    line = bootconfig.add_arguments("  append initrd=initrd.img", ARGS, media="cdrom")
    assert line.startswith("  append ") and "photon.media=cdrom" in line.split()
