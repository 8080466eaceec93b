"""The descriptor: schema-valid, the form read back equals the profile's, and its environment drives render."""

import subprocess

import pytest
from click.testing import CliRunner

from appliance_agent.form import form_for
from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties

from builder.cli import cli
from builder.errors import InvalidArtifact
from builder.ova.ovf import OvfDisk, OvfFile, build_descriptor, read_descriptor
from builder.profile import load_profile

DISK = OvfDisk("a-disk1.vmdk", 1114624, 16 * 2**30, 0)
ISO = OvfFile("a-installer.iso", 123456)
VISIBLE = ("key", "category", "label", "description", "type", "qualifiers", "password")


def xmllint(schema, path):
    return subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(schema), str(path)],
                          capture_output=True, text=True)


@pytest.fixture
def bios_profile(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[vm]\nfirmware = "bios"\ncpus = 4\n\n[services.uag]\nenabled = false\n')
    return load_profile(path)


@pytest.mark.parametrize("which", ["default", "bios"])
def test_descriptor_validates_against_the_dmtf_schema(which, bios_profile, ovf_schemas, tmp_path):
    profile = load_profile() if which == "default" else bios_profile
    path = tmp_path / "a.ovf"
    path.write_bytes(build_descriptor(profile, disk=DISK, iso=ISO))
    result = xmllint(ovf_schemas / "ovf-envelope.xsd", path)
    assert result.returncode == 0, result.stderr
    summary = read_descriptor(path.read_bytes())
    assert summary.hardware["firmware"] == ("efi" if which == "default" else "bios")
    assert summary.hardware["cpus"] == (2 if which == "default" else 4)
    assert summary.transport == "com.vmware.guestInfo"
    cdrom = next(device for device in summary.hardware["devices"] if device["ResourceType"] == "15")
    sata = next(device for device in summary.hardware["devices"] if device["ResourceType"] == "20")
    assert cdrom["HostResource"] == "ovf:/file/file-installer" and sata["ResourceSubType"] == "vmware.sata.ahci"


@pytest.mark.parametrize("which", ["default", "bios"])
def test_property_form_read_back_equals_the_profiles(which, bios_profile):
    profile = load_profile() if which == "default" else bios_profile
    form = form_for(profile)
    read = read_descriptor(build_descriptor(profile, disk=DISK, iso=ISO)).properties
    assert [{key: item[key] for key in VISIBLE} for item in read] == [
        {key: prop.to_dict()[key] for key in VISIBLE} for prop in form]
    for item, prop in zip(read, form):
        assert item["user_configurable"] == (not prop.hidden)  # appliance.selftest is hidden
        assert item["default"] == ("" if prop.password else prop.default)
    keys = [item["key"] for item in read]
    assert len(keys) == len(set(keys))
    if which == "bios":
        assert "vip.uag" not in keys


def test_descriptor_is_deterministic():
    profile = load_profile()
    assert build_descriptor(profile, disk=DISK, iso=ISO) == build_descriptor(profile, disk=DISK, iso=ISO)


def test_environment_from_the_descriptor_drives_render(tmp_path, ovf_schemas):
    profile = load_profile()
    properties = read_descriptor(build_descriptor(profile, disk=DISK, iso=ISO)).properties
    values = {item["key"]: item["default"] for item in properties}
    values.update(sample_properties(profile, "BACKUP"))
    assert set(values) == {item["key"] for item in properties}
    env = tmp_path / "ovf-env.xml"
    env.write_bytes(build_environment(values))
    assert xmllint(ovf_schemas / "ovf-environment.xsd", env).returncode == 0
    result = CliRunner().invoke(cli, ["render", "--env", str(env), "--out", str(tmp_path / "root"), "--no-check"])
    assert result.exit_code == 0, result.output
    assert "bind 192.0.2.21:443" in (tmp_path / "root/etc/haproxy/haproxy.cfg").read_text()


def test_malformed_descriptors_are_refused():
    for data, reason in ((b"<not xml", "well-formed"), (b"<Envelope/>", "not an OVF"),
                         (b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "DOCTYPE")):
        with pytest.raises(InvalidArtifact, match=reason):
            read_descriptor(data)
