"""`inspect` on spoilt OVAs and ISOs: a one-line reason per problem, exit 1, never a traceback.

Each case takes the good build's OVA or ISO, spoils one field (descriptor
attributes and values, the manifest, the tar framing, the kickstart and the
payload on the ISO) and runs the real `inspect` command on it.
"""

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from builder.iso.image import IsoImage, NewFile, remaster
from builder.iso.kickstart import KICKSTART_PATH
from builder.iso.payload import PAYLOAD_PATH, PROFILE_PATH, RELEASE_PATH

from .conftest import MAX_LINE, run

OVA = "photon-lb-1.0.0.ova"
DESCRIPTOR = "photon-lb-1.0.0.ovf"
LONG = "9" * 10000


def members(ova: Path) -> list:
    """(name, bytes) of every member, in order."""
    with tarfile.open(ova, "r:") as tar:
        return [(info.name, tar.extractfile(info).read()) for info in tar]


def pack(path: Path, items: list, manifest: bool = True, fmt=tarfile.USTAR_FORMAT) -> Path:
    """An OVA of `items`, the manifest (if any) recomputed for them."""
    if manifest:
        items = [(name, data) for name, data in items if not name.endswith(".mf")]
        text = "".join("SHA256(%s)= %s\n" % (name, hashlib.sha256(data).hexdigest()) for name, data in items)
        items.insert(1, (DESCRIPTOR.replace(".ovf", ".mf"), text.encode()))
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if fmt == tarfile.PAX_FORMAT:
                info.pax_headers = {"comment": "a PAX extended header"}
            tar.addfile(info, io.BytesIO(data))
    return path


def spoil_descriptor(edit):
    """A case builder: the OVA with its descriptor text edited by `edit`, manifest recomputed."""
    def make(good: Path, tmp: Path) -> Path:
        items = members(good)
        text = dict(items)[DESCRIPTOR].decode()
        spoilt = edit(text)
        assert spoilt != text, "the edit did not apply"
        return pack(tmp / OVA, [(name, spoilt.encode() if name == DESCRIPTOR else data) for name, data in items])
    return make


def sub(pattern, replacement, count=1):
    return spoil_descriptor(lambda text: re.sub(pattern, replacement, text, count=count))


def whole(make_bytes):
    def make(good: Path, tmp: Path) -> Path:
        path = tmp / OVA
        path.write_bytes(make_bytes(good.read_bytes()))
        return path
    return make


def repack(edit_items, manifest=True, fmt=tarfile.USTAR_FORMAT):
    def make(good: Path, tmp: Path) -> Path:
        return pack(tmp / OVA, edit_items(members(good)), manifest=manifest, fmt=fmt)
    return make


def raw_manifest(text):
    def edit(items):
        return [items[0], (DESCRIPTOR.replace(".ovf", ".mf"), text(items).encode())] + items[2:]
    return repack(edit, manifest=False)


def iso_member(edit_bytes):
    def edit(items):
        return [(name, edit_bytes(data) if name.endswith(".iso") else data) for name, data in items]
    return repack(edit)


SIZE = r'ovf:size="\d+"'
CPUS = r"(<rasd:VirtualQuantity>)2(</rasd:VirtualQuantity>)"
MEMORY = r"(<rasd:VirtualQuantity>)2048(</rasd:VirtualQuantity>)"

# (id, how to make the spoilt file, phrases every Error line together must hold)
OVA_CASES = [
    ("size-word", sub(SIZE, 'ovf:size="big"'), ["ovf:size", "'big'", "whole number"]),
    ("size-empty", sub(SIZE, 'ovf:size=""'), ["ovf:size"]),
    ("size-negative", sub(SIZE, 'ovf:size="-5"'), ["ovf:size", "'-5'"]),
    ("size-float", sub(SIZE, 'ovf:size="1e3"'), ["ovf:size"]),
    ("size-space", sub(SIZE, 'ovf:size=" 12"'), ["ovf:size"]),
    ("size-superscript", sub(SIZE, 'ovf:size="\u00b2"'), ["ovf:size"]),
    ("size-arabic-digits", sub(SIZE, 'ovf:size="\u0663\u0664"'), ["ovf:size"]),
    ("size-10k", sub(SIZE, 'ovf:size="%sx"' % LONG), ["ovf:size", "characters)"]),
    ("size-huge", sub(SIZE, 'ovf:size="%s"' % ("9" * 40)), ["ovf:size"]),
    ("cpus-word", sub(CPUS, r"\1two\2"), ["VirtualQuantity", "'two'"]),
    ("cpus-empty", sub(CPUS, r"\1\2"), ["VirtualQuantity"]),
    ("cpus-hex", sub(CPUS, r"\g<1>0x10\2"), ["VirtualQuantity"]),
    ("cpus-superscript", sub(CPUS, "\\g<1>\u00b2\\2"), ["VirtualQuantity"]),
    ("memory-float", sub(MEMORY, r"\g<1>2048.5\2"), ["VirtualQuantity", "2048.5"]),
    ("memory-10k", sub(MEMORY, r"\g<1>%sx\2" % LONG), ["VirtualQuantity", "characters)"]),
    ("capacity-word", sub(r'ovf:capacity="\d+"', 'ovf:capacity="lots"'), ["capacity", "lots"]),
    ("capacity-superscript", sub(r'ovf:capacity="\d+"', 'ovf:capacity="\u00b2"'), ["capacity"]),
    ("capacity-10k", sub(r'ovf:capacity="\d+"', 'ovf:capacity="%sx"' % LONG), ["capacity", "characters)"]),
    ("units-unknown", sub(r'ovf:capacityAllocationUnits="[^"]+"', 'ovf:capacityAllocationUnits="byte * 2^99"'),
     ["capacity", "byte * 2^99"]),
    ("disk-fileref-missing", sub(r'ovf:fileRef="[^"]+"', 'ovf:fileRef="nothing"'), ["disk disk1", "not in the OVA"]),
    ("not-xml", spoil_descriptor(lambda text: text.replace("</ovf:Envelope>", "")), ["not well-formed XML"]),
    ("not-utf8", repack(lambda items: [(items[0][0], items[0][1].replace(b"<ovf:Name>", b"<ovf:Name>\xff", 1))] + items[1:]),
     ["not well-formed XML"]),
    ("doctype", spoil_descriptor(lambda text: text.replace("<ovf:Envelope", '<!DOCTYPE x [<!ENTITY a "b">]><ovf:Envelope', 1)),
     ["DOCTYPE"]),
    ("not-envelope", spoil_descriptor(lambda text: text.replace("ovf/envelope/1", "ovf/envelope/9")),
     ["not an OVF 1.x descriptor"]),
    ("empty-descriptor", repack(lambda items: [(items[0][0], b"")] + items[1:]), ["not well-formed XML"]),
    ("no-hardware", sub(r"(?s)<ovf:VirtualHardwareSection.*</ovf:VirtualHardwareSection>", ""), ["VirtualHardwareSection"]),
    ("no-product", sub(r"(?s)<ovf:ProductSection.*</ovf:ProductSection>", ""), ["property form"]),
    ("property-no-key", sub(r'ovf:key="node.role" ', ""), ["property", "no ovf:key"]),
    ("item-resource-type-word", sub(r"<rasd:ResourceType>3</rasd:ResourceType>", "<rasd:ResourceType>cpu</rasd:ResourceType>"),
     ["hardware", "CPU"]),
    ("manifest-missing", repack(lambda items: [item for item in items if not item[0].endswith(".mf")], manifest=False),
     ["no manifest"]),
    ("manifest-bad-line", raw_manifest(lambda items: "SHA1(x)= 00\n"), ["manifest line 1", "is not listed in the manifest"]),
    ("manifest-10k-line", raw_manifest(lambda items: "SHA256(%s)= %s\n" % (LONG, "0" * 64)), ["manifest line 1"]),
    ("manifest-wrong-digest", raw_manifest(lambda items: "".join(
        "SHA256(%s)= %s\n" % (name, "0" * 64) for name, _data in items if not name.endswith(".mf"))),
     ["does not match the manifest"]),
    ("manifest-extra-file", raw_manifest(lambda items: "".join(
        "SHA256(%s)= %s\n" % (name, hashlib.sha256(data).hexdigest()) for name, data in items
        if not name.endswith(".mf")) + "SHA256(ghost.vmdk)= %s\n" % ("0" * 64)), ["ghost.vmdk", "not in the OVA"]),
    ("manifest-not-ascii", raw_manifest(lambda items: "SHA256(\u00e9)= %s\n" % ("0" * 64)), ["manifest"]),
    ("descriptor-not-first", repack(lambda items: items[2:] + items[:1]), ["not the .ovf descriptor"]),
    ("no-descriptor", repack(lambda items: items[2:], manifest=False), ["no .ovf descriptor"]),
    ("member-in-directory", repack(lambda items: items[:2] + [("sub/" + items[2][0], items[2][1])] + items[3:]),
     ["must not be in directories"]),
    ("pax-header", repack(lambda items: items, fmt=tarfile.PAX_FORMAT), ["pax tar header"]),
    ("empty-tar", whole(lambda data: bytes(10240)), ["empty archive"]),
    ("not-a-tar", whole(lambda data: b"hello\n" * 100), ["not a readable tar archive"]),
    ("zero-bytes", whole(lambda data: b""), ["not a readable tar archive"]),
    ("truncated", whole(lambda data: data[: len(data) // 2]), ["is truncated", "download it again"]),
    ("truncated-header", whole(lambda data: data[:700]), ["is truncated"]),
    ("trailing-garbage", whole(lambda data: data + b"garbage" * 100), ["data after the end of the archive"]),
    ("iso-random", iso_member(lambda data: bytes(len(data))), ["installer.iso"]),
    ("iso-truncated", iso_member(lambda data: data[: len(data) // 3]), ["installer.iso"]),
    ("vmdk-random", repack(lambda items: [(name, bytes(len(data)) if name.endswith(".vmdk") else data)
                                          for name, data in items]), ["vmdk"]),
]


def iso_with(files=None, remove=()):
    """A case builder: the good ISO with `files` replaced (path -> bytes or a function of the old bytes)."""
    def make(good_iso: Path, tmp: Path) -> Path:
        out = tmp / "spoilt.iso"
        with IsoImage(good_iso) as image:
            new = []
            for path, content in (files or {}).items():
                data = content(image.read(path)) if callable(content) else content
                new.append(NewFile(path, data))
            remaster(image, out, new, remove=list(remove), epoch=0, digest=False)
        return out
    return make


def payload_with(edit):
    """The payload tar with its members edited by `edit({name: bytes}) -> {name: bytes}`."""
    def rebuild(data):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            files = {info.name: tar.extractfile(info).read() for info in tar if info.isfile()}
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, content in edit(files).items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        return out.getvalue()
    return iso_with({PAYLOAD_PATH: rebuild})


def iso_bytes(make_bytes):
    def make(good_iso: Path, tmp: Path) -> Path:
        path = tmp / "spoilt.iso"
        path.write_bytes(make_bytes(good_iso.read_bytes()))
        return path
    return make


ISO_CASES = [
    ("iso-zeros", iso_bytes(lambda data: bytes(len(data))), ["not a readable ISO 9660 image"]),
    ("iso-truncated", iso_bytes(lambda data: data[: len(data) // 3]), ["truncated"]),
    ("iso-text", iso_bytes(lambda data: b"not an image\n" * 1000), ["not a readable ISO 9660 image"]),
    ("iso-empty", iso_bytes(lambda data: b""), ["spoilt.iso"]),
    ("kickstart-not-json", iso_with({KICKSTART_PATH: b"{not json"}), ["ks.json", "not valid JSON"]),
    ("kickstart-a-list", iso_with({KICKSTART_PATH: b"[1, 2]"}), ["ks.json", "not a JSON object"]),
    ("kickstart-password-string", iso_with({KICKSTART_PATH: lambda old: json.dumps(
        dict(json.loads(old), password="x")).encode()}), ["ks.json", "password"]),
    ("kickstart-not-utf8", iso_with({KICKSTART_PATH: b"\xff\xfe{}"}), ["ks.json"]),
    ("kickstart-packages-string", iso_with({KICKSTART_PATH: lambda old: json.dumps(
        dict(json.loads(old), packages="haproxy")).encode()}), ["ks.json", "packages"]),
    ("payload-not-tar", iso_with({PAYLOAD_PATH: b"not a tar" * 100}), ["payload.tar", "not a readable tar"]),
    ("payload-one-byte", iso_with({PAYLOAD_PATH: b"x"}), ["payload.tar"]),
    ("payload-truncated", iso_with({PAYLOAD_PATH: lambda old: old[: len(old) // 2]}), ["payload.tar"]),
    ("profile-not-json", payload_with(lambda files: dict(files, **{PROFILE_PATH: b"{"})), ["profile.json", "not valid JSON"]),
    ("profile-bad", payload_with(lambda files: dict(files, **{PROFILE_PATH: json.dumps(
        dict(json.loads(files[PROFILE_PATH]), appliance={"name": "x\n", "version": "1"})).encode()})),
     ["profile.json", "appliance.name"]),
    ("profile-a-list", payload_with(lambda files: dict(files, **{PROFILE_PATH: b"[]"})), ["profile.json"]),
    ("release-not-json", payload_with(lambda files: dict(files, **{RELEASE_PATH: b"\xff"})), ["release.json"]),
    ("release-a-string", payload_with(lambda files: dict(files, **{RELEASE_PATH: b'"1.0"'})), ["release.json"]),
]


def error_lines(code, stderr, phrases):
    assert code == 1, (code, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("Error: ") for line in lines), stderr
    assert all(len(line) <= MAX_LINE for line in lines), stderr
    text = "\n".join(lines)
    for phrase in phrases:
        assert phrase in text, (phrase, text)


@pytest.mark.parametrize("case_id, make, phrases", OVA_CASES, ids=[case[0] for case in OVA_CASES])
@pytest.mark.parametrize("as_json", (False, True), ids=("text", "json"))
def test_inspect_reports_a_spoilt_ova_in_lines(case_id, make, phrases, as_json, good_build, tmp_path):
    path = make(good_build / OVA, tmp_path)
    code, stdout, stderr = run("inspect", *(["--json"] if as_json else []), path)
    error_lines(code, stderr, phrases)
    if as_json and stdout:
        assert json.loads(stdout)["problems"]


@pytest.mark.parametrize("case_id, make, phrases", ISO_CASES, ids=[case[0] for case in ISO_CASES])
def test_inspect_reports_a_spoilt_iso_in_one_line(case_id, make, phrases, good_build, tmp_path):
    path = make(good_build / "photon-lb-1.0.0.iso", tmp_path)
    code, _stdout, stderr = run("inspect", path)
    error_lines(code, stderr, phrases)
    assert len(stderr.splitlines()) == 1, stderr


def test_the_good_build_inspects_clean(good_build):
    for name in (OVA, "photon-lb-1.0.0.iso"):
        code, stdout, stderr = run("inspect", good_build / name)
        assert code == 0 and stderr == "", stderr
        assert "Photon OS 5.0" in stdout


@pytest.mark.parametrize("name, phrase", [("missing.ova", "no such file"), ("folder.ova", "is a directory")])
def test_inspect_refuses_what_is_not_a_file(name, phrase, tmp_path):
    (tmp_path / "folder.ova").mkdir()
    code, _stdout, stderr = run("inspect", tmp_path / name)
    error_lines(code, stderr, [phrase])
