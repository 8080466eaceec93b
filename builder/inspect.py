"""What is inside an appliance ISO or OVA, for users and support: `build-appliance inspect`.

Everything is read, nothing is trusted: the OVA's manifest is re-verified,
the ISO inside it is opened in place (no extraction), and the property form
comes from the descriptor and from the profile baked into the ISO.
"""

import hashlib
import io
import json
import re
import tarfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import BinaryIO

from appliance_agent.errors import ProfileError
from appliance_agent.form import form_for
from appliance_agent.profile import Profile, shown

from .errors import InvalidArtifact, InvalidInput
from .io.window import FileWindow
from .iso.detect import detect
from .iso.image import IsoImage
from .iso.kickstart import KICKSTART_PATH
from .iso.payload import PAYLOAD_PATH, PROFILE_PATH, RELEASE_PATH
from .ova.archive import read_ova, verify_ova
from .ova.ovf import read_descriptor
from .ova.vmdk import read_vmdk_info


def inspect_path(path: Path) -> dict:
    """A report for an .iso or .ova file."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; pass an .iso or .ova file")
    with open(path, "rb") as fp:
        head = fp.read(512)
    if path.suffix.lower() == ".ova" or _looks_like_tar(head):
        return inspect_ova(path)
    return inspect_iso(path)


def _looks_like_tar(block: bytes) -> bool:
    return len(block) == 512 and block[257:262] == b"ustar"


def inspect_iso(path: Path, fileobj: BinaryIO | None = None) -> dict:
    with IsoImage(path, fileobj) as image:
        return _iso_report(image)


def _iso_report(image: IsoImage) -> dict:
    found = detect(image)
    report = {
        "type": "iso",
        "file": image.path.name,
        "size": image.size,
        "volume_label": found.volume_label,
        "photon_release": found.release,
        "installer": found.installer,
        "flavor": found.flavor,
        "rpms": found.rpm_count,
        "boot": [{"platform": entry.platform, "image": entry.path, "boot_info_table": entry.boot_info_table}
                 for entry in image.boot_entries()],
    }
    files = image.files()
    if KICKSTART_PATH not in files:
        report["appliance"] = None
        report["notes"] = ["no appliance kickstart: this is a stock Photon ISO"]
        return report
    kickstart_bytes = image.read(KICKSTART_PATH)
    kickstart = _json_object(kickstart_bytes, f"{KICKSTART_PATH} on the ISO")
    password = kickstart.get("password", {})
    packages = kickstart.get("packages")
    if not isinstance(password, dict):
        raise InvalidArtifact(f"{KICKSTART_PATH} on the ISO: password is {shown(password)}, not a JSON object")
    if not isinstance(packages, list) or not all(isinstance(name, str) for name in packages):
        raise InvalidArtifact(f"{KICKSTART_PATH} on the ISO: packages is {shown(packages)}, not a list of names")
    report["kickstart"] = {
        "sha256": hashlib.sha256(kickstart_bytes).hexdigest(),
        "disk": kickstart.get("disk"),
        "linux_flavor": kickstart.get("linux_flavor"),
        "packages": packages,
        "root_password": "locked" if password.get("text") == "*" else "set (hash)",
        "keys": sorted(kickstart),
    }
    report["appliance"] = _payload_report(image) if PAYLOAD_PATH in files else None
    return report


def _json_object(data: bytes, where: str) -> dict:
    """`data` as a JSON object, or InvalidArtifact saying what it is instead."""
    try:
        value = json.loads(data)
    except ValueError as exc:  # UnicodeDecodeError included
        raise InvalidArtifact(f"{where} is not valid JSON ({shown(str(exc), 120)})")
    if not isinstance(value, dict):
        raise InvalidArtifact(f"{where} is {shown(value)}, not a JSON object")
    return value


def _payload_report(image: IsoImage) -> dict:
    data = image.read(PAYLOAD_PATH)
    files = []
    profile = release = None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                content = tar.extractfile(member).read()
                files.append({"path": "/" + member.name, "size": member.size, "mode": oct(member.mode),
                              "sha256": hashlib.sha256(content).hexdigest()})
                if member.name == PROFILE_PATH:
                    profile = _json_object(content, f"/{PROFILE_PATH} in {PAYLOAD_PATH}")
                elif member.name == RELEASE_PATH:
                    release = _json_object(content, f"/{RELEASE_PATH} in {PAYLOAD_PATH}")
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArtifact(f"{PAYLOAD_PATH} on the ISO is not a readable tar archive ({shown(str(exc), 120)})")
    report = {"payload_sha256": hashlib.sha256(data).hexdigest(), "release": release, "files": files}
    if profile is not None:
        try:
            report["properties"] = [prop.to_dict() for prop in form_for(Profile.from_dict(profile))]
        except ProfileError as exc:
            raise InvalidArtifact(f"/{PROFILE_PATH} in {PAYLOAD_PATH} is not a valid profile ({exc})")
    return report


def inspect_ova(path: Path) -> dict:
    contents = read_ova(path)
    problems = verify_ova(path)
    summary = read_descriptor(contents.descriptor)
    problems += descriptor_problems(summary)
    report = {
        "type": "ova",
        "file": path.name,
        "size": path.stat().st_size,
        "members": [{"name": member.name, "size": member.size, "sha256": contents.manifest.get(member.name)}
                    for member in contents.members],
        "manifest_verified": not problems,
        "problems": problems,
        "descriptor": _plain(summary),
    }
    with open(path, "rb") as fp:
        report["disks"] = _disk_reports(fp, contents, summary, report["problems"])
        iso_member = next((member for member in contents.members if member.name.endswith(".iso")), None)
        if iso_member is not None:
            try:
                report["iso"] = inspect_iso(Path(iso_member.name), FileWindow(fp, iso_member.offset, iso_member.size))
            except InvalidArtifact as exc:
                report["problems"].append(f"{iso_member.name}: {exc}")
    return report


def _disk_reports(fp: BinaryIO, contents, summary, problems: list[str]) -> list[dict]:
    """Each VMDK read in place, and checked against what the descriptor says of it."""
    members = {member.name: member for member in contents.members}
    hrefs = {item["id"]: item["href"] for item in summary.files}
    found = []
    for disk in summary.disks:
        member = members.get(hrefs.get(disk["file"], ""))
        if member is None:
            problems.append(f"disk {disk['id']}: its file is not in the OVA")
            continue
        try:
            info = read_vmdk_info(FileWindow(fp, member.offset, member.size))
        except InvalidArtifact as exc:
            problems.append(f"{member.name}: {exc}")
            continue
        units = {"byte": 1, "byte * 2^20": 2**20, "byte * 2^30": 2**30}.get(disk["units"])
        capacity = disk["capacity"] if isinstance(disk["capacity"], str) else ""
        declared = int(capacity) * units if units and re.fullmatch(r"[0-9]{1,20}", capacity) else None
        if declared != info.capacity_bytes:
            problems.append(f"{member.name}: capacity {info.capacity_bytes} bytes, the descriptor says "
                            f"{shown(disk['capacity'])} {shown(disk['units'])}")
        found.append({"file": member.name, "capacity_bytes": info.capacity_bytes,
                      "populated_bytes": info.populated_bytes, "create_type": info.create_type})
    return found


def descriptor_problems(summary) -> list[str]:
    """What a deployable descriptor must declare and this one does not."""
    problems = []
    hardware = summary.hardware
    if not hardware:
        problems.append("the descriptor has no VirtualHardwareSection: vCenter cannot make the VM")
    else:
        for key, what in (("cpus", "CPU"), ("memory_mb", "memory")):
            if key not in hardware:
                problems.append(f"the descriptor's hardware has no {what} item (rasd:ResourceType "
                                f"{'3' if key == 'cpus' else '4'})")
    if not summary.properties:
        problems.append("the descriptor has no property form (no ProductSection properties): the appliance "
                        "cannot be configured")
    for index, prop in enumerate(summary.properties, 1):
        if not prop.get("key"):
            problems.append(f"property {index} of the form has no ovf:key")
    return problems


def _plain(value):
    """Dataclasses and tuples as JSON-friendly data."""
    if is_dataclass(value):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return value
