"""The files the appliance gets on top of Photon, as one deterministic tar.

One tar (rather than one kickstart additional_files entry per file) because
the installers copy single files without their modes (2.x) or without
creating parent directories (3.0); the postinstall script unpacks it with
python3's tarfile, keeping modes. Contents:
  overlays/                  -> /
  the agent package          -> /usr/lib/appliance-agent/appliance_agent/
  the profile (JSON)         -> /etc/appliance/profile.json
  template overrides         -> /etc/appliance/templates/<name>
  build facts                -> /etc/appliance/release.json
"""

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import InvalidInput
from ..resources import agent_package_dir, data_dir

# The payload on the ISO, and where additional_files puts it in the target.
PAYLOAD_PATH = "/appliance/payload.tar"
PAYLOAD_TARGET = "/var/tmp/appliance-payload.tar"
AGENT_DIR = "usr/lib/appliance-agent/appliance_agent"
PROFILE_PATH = "etc/appliance/profile.json"
TEMPLATE_DIR = "etc/appliance/templates"
RELEASE_PATH = "etc/appliance/release.json"
# Directories the appliance owns: they get explicit entries (mode 0755). System
# directories (/usr, /etc) are left to the installed system.
OWNED_DIRS = ("etc/appliance", "etc/systemd/system/haproxy.service.d", "usr/lib/appliance-agent",
              "usr/libexec/appliance-agent")


@dataclass(frozen=True)
class PayloadFile:
    path: str  # relative to /
    data: bytes
    mode: int


def payload_files(profile, *, release_facts: dict) -> list[PayloadFile]:
    """Every file of the payload, sorted by path."""
    files = []
    overlays = data_dir("overlays")
    for source in sorted(overlays.rglob("*")):
        if source.is_file() and not source.is_symlink():
            files.append(PayloadFile(source.relative_to(overlays).as_posix(), source.read_bytes(), _mode(source)))
    agent = agent_package_dir()
    for source in sorted(agent.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts and source.suffix in (".py", ".j2"):
            files.append(PayloadFile(f"{AGENT_DIR}/{source.relative_to(agent).as_posix()}", source.read_bytes(), 0o644))
    data = profile.to_dict()
    templates = {}
    for name, override in sorted(profile.templates.items()):
        try:
            content = Path(override).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"template override {name}: {override} cannot be read ({exc.strerror})")
        files.append(PayloadFile(f"{TEMPLATE_DIR}/{name}", content, 0o644))
        templates[name] = f"/{TEMPLATE_DIR}/{name}"
    data["templates"] = templates
    files.append(PayloadFile(PROFILE_PATH, _json(data), 0o644))
    files.append(PayloadFile(RELEASE_PATH, _json(dict(release_facts, builder_version=__version__)), 0o644))
    return sorted(files, key=lambda item: item.path)


def payload_tar(files: list[PayloadFile], *, mtime: int) -> bytes:
    """A USTAR archive of `files`, owned by root, timestamps fixed: identical inputs, identical bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs = sorted({parent for item in files for parent in _parents(item.path) if _owned(parent)})
        for directory in dirs:
            tar.addfile(_info(directory, tarfile.DIRTYPE, 0o755, 0, mtime))
        for item in files:
            tar.addfile(_info(item.path, tarfile.REGTYPE, item.mode, len(item.data), mtime), io.BytesIO(item.data))
    return out.getvalue()


def _info(path: str, kind: bytes, mode: int, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


def _owned(directory: str) -> bool:
    return any(directory == owned or directory.startswith(owned + "/") for owned in OWNED_DIRS)


def _mode(path: Path) -> int:
    # Git keeps only the executable bit; normalise so a umask cannot change the payload.
    return 0o755 if path.stat().st_mode & 0o111 else 0o644


def _json(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
