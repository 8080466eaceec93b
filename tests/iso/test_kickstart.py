"""The kickstart: only keys every installer generation accepts, a locked root, the payload laid out."""

import json
import subprocess

import pytest

from builder.iso import kickstart
from builder.buildconfig import photon_settings
from builder.errors import InvalidArtifact, InternalError, InvalidInput
from builder.iso.payload import PAYLOAD_TARGET
from builder.profile import load_profile

GENERATIONS = ["3.0", "1.0", "2.0", "2.1", "2.2", "2.3", "2.4", "2.7"]


def make(profile=None):
    photon = photon_settings(profile or load_profile())
    return kickstart.build_kickstart(
        photon, hostname="photon-lb", payload_on_media="/appliance/payload.tar", payload_target=PAYLOAD_TARGET
    )


def test_key_sets_follow_the_installers():
    # 3.0 is Rev3's set (a383732): linux_flavor yes, the later branch's release_version no
    assert "linux_flavor" in kickstart.known_keys("3.0") and "release_version" not in kickstart.known_keys("3.0")
    assert "photon_docker_image" in kickstart.known_keys("1.0")
    # only 4.0 GA's patched 1.0-6 is relied on for these two; 2.0-5 and later remove them
    for key in ("insecure_installation", "photon_release_version"):
        assert key in kickstart.known_keys("1.0")
        assert not any(key in kickstart.known_keys(gen) for gen in ("2.0", "2.1", "2.3", "2.4", "2.7"))
    assert "install_linux_esx" in kickstart.known_keys("2.3")
    assert "install_linux_esx" not in kickstart.known_keys("2.4")
    assert "repos" in kickstart.known_keys("2.2") and "repos" not in kickstart.known_keys("2.1")
    # versions between or after listed ones take the nearest older set
    assert kickstart.known_keys("2.5") == kickstart.known_keys("2.4")
    assert kickstart.known_keys("2.9") == kickstart.known_keys("2.7")
    with pytest.raises(InvalidArtifact):
        kickstart.known_keys("banana")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_appliance_kickstart_is_accepted_by_every_generation(generation):
    kickstart.check_kickstart(make(), generation)


def test_unknown_key_is_refused():
    with pytest.raises(InternalError, match="release_version"):
        kickstart.check_kickstart(dict(make(), release_version="5.0"), "2.7")


def test_kickstart_is_plain_json_with_a_locked_root_that_never_expires():
    data = json.loads(kickstart.kickstart_json(make()))
    assert data["password"] == {"crypted": True, "text": "*", "age": -1}
    assert data["linux_flavor"] == "linux-esx"
    assert "linux-esx" in data["packages"] and "keepalived" in data["packages"] and "haproxy" in data["packages"]
    assert data["additional_files"] == [{"/mnt/media/appliance/payload.tar": PAYLOAD_TARGET}]
    assert data["postinstall"][0] == "#!/bin/bash"


def test_profile_root_hash_is_used_and_plaintext_refused(tmp_path):
    good = "$6$saltsalt$" + "a" * 86
    path = tmp_path / "p.toml"
    path.write_text(f'[photon]\nroot_password_hash = "{good}"\n')
    assert make(load_profile(path))["password"]["text"] == good
    path.write_text('[photon]\nroot_password_hash = "VMware1!"\n')
    with pytest.raises(InvalidInput, match="SHA-512 crypt"):
        make(load_profile(path))


def test_kernel_flavour_is_added_to_the_package_list(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[photon]\nlinux_flavor = "linux"\npackages = ["minimal", "haproxy"]\n')
    data = make(load_profile(path))
    assert data["packages"] == ["minimal", "haproxy", "linux"]


def test_postinstall_script_is_valid_bash_and_unpacks_the_payload(tmp_path):
    script = tmp_path / "postinstall.sh"
    script.write_text("\n".join(kickstart.postinstall_lines()) + "\n")
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert f"payload={PAYLOAD_TARGET}" in text
    for unit in ("appliance-agent.service", "haproxy.service", "keepalived.service", "iptables.service"):
        assert unit in text
    assert "cloud-init.disabled" in text
