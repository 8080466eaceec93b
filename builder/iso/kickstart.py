"""The appliance's kickstart, per Photon installer generation.

Photon's installers abort on any key they do not know, and the known set
changes between installer versions (kickstart/installer-keys.toml). The
kickstart uses only keys every installer since 3.0 accepts and is checked
against the ISO's own generation before it is written. Plain JSON without
comments: 3.0 and installers before 2.4 read it with json.
"""

import json
import tomllib
from functools import lru_cache

from ..buildconfig import PhotonSettings
from ..errors import InternalError, InvalidArtifact
from ..resources import data_dir

# Where the kickstart lies on the remastered ISO (ks=cdrom:<this>).
KICKSTART_PATH = "/appliance/ks.json"
LOCKED = "*"


@lru_cache(maxsize=None)
def _generations() -> dict:
    path = data_dir("kickstart") / "installer-keys.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))["generations"]


def known_keys(generation: str) -> frozenset[str]:
    """The kickstart keys installer `generation` accepts ("3.0", "1.0" .. "2.7").

    A version between listed ones (2.5) gets the keys of the nearest older
    one; a newer one (2.9) those of the newest listed.
    """
    generations = _generations()
    if generation not in generations:
        try:
            wanted = _version(generation)
        except ValueError:
            raise InvalidArtifact(f"unknown Photon installer version {generation!r}")
        older = [name for name in generations if name != "3.0" and _version(name) <= wanted]
        if not older:
            raise InvalidArtifact(f"Photon installer {generation} is older than any this tool knows (1.0)")
        generation = max(older, key=_version)
    return frozenset(_resolve(generation, generations))


def _resolve(name: str, generations: dict) -> set[str]:
    entry = generations[name]
    keys = set(_resolve(entry["base"], generations)) if "base" in entry else set()
    keys.update(entry.get("keys", ()))
    keys.update(entry.get("add", ()))
    keys.difference_update(entry.get("drop", ()))
    return keys


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def postinstall_lines() -> list[str]:
    """The postinstall script (kickstart/postinstall.sh) as the list of lines the kickstart carries."""
    return (data_dir("kickstart") / "postinstall.sh").read_text(encoding="utf-8").splitlines()


def build_kickstart(photon: PhotonSettings, *, hostname: str, payload_on_media: str, payload_target: str) -> dict:
    """The kickstart for `photon` settings; payload_on_media is the payload tar's path on the ISO."""
    return {
        "hostname": hostname,
        "disk": photon.disk,
        "linux_flavor": photon.linux_flavor,
        "packages": list(photon.install_packages),
        # age -1: no expiry (Photon's login.defs would expire root after 90 days).
        "password": {"crypted": True, "text": photon.root_password_hash or LOCKED, "age": -1},
        # The installer mounts the ISO at /mnt/media; an absolute src is used as is.
        "additional_files": [{"/mnt/media" + payload_on_media: payload_target}],
        "postinstall": postinstall_lines(),
        "eject_cdrom": True,
        "ui": False,
    }


def check_kickstart(kickstart: dict, generation: str) -> None:
    """Refuse a kickstart with a key the target installer would abort on."""
    unknown = sorted(set(kickstart) - known_keys(generation))
    if unknown:
        raise InternalError(f"kickstart key {unknown[0]} is not accepted by Photon installer {generation}")


def kickstart_json(kickstart: dict) -> bytes:
    return (json.dumps(kickstart, indent=4, ensure_ascii=True) + "\n").encode("ascii")
