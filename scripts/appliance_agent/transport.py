"""Where the OVF environment comes from. Each transport returns the XML text or None.

Order on the appliance: VMware Tools (guestinfo.ovfEnv), then an
ovf-env.xml on a CD (the OVF ISO transport). `--env FILE` replaces both.
"""

import glob
import shutil
import struct
import subprocess

from .errors import EnvironmentReadError

GUESTINFO_COMMANDS = (
    ["vmware-rpctool", "info-get guestinfo.ovfEnv"],
    ["vmtoolsd", "--cmd", "info-get guestinfo.ovfEnv"],
)
CD_NAMES = ("OVF-ENV.XML", "OVF_ENV.XML")
SECTOR = 2048
MAX_ENV_SIZE = 1024 * 1024


def read_guestinfo(log=lambda line: None, run=subprocess.run):
    """guestinfo.ovfEnv through VMware Tools. Exit 1 / 'No value found' means absent."""
    for command in GUESTINFO_COMMANDS:
        if not shutil.which(command[0]):
            continue
        try:
            result = run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log("%s failed: %s" % (command[0], exc))
            continue
        text = result.stdout.strip()
        if result.returncode == 0 and text and not text.startswith("No value found"):
            return text
        if result.returncode == 1 or text.startswith("No value found"):
            return None
        log("%s exited with %d: %s" % (command[0], result.returncode, result.stderr.strip()[:200]))
    return None


def read_cdrom(devices=None, log=lambda line: None):
    """ovf-env.xml from the root directory of an ISO 9660 CD, read without mounting."""
    for device in devices if devices is not None else sorted(glob.glob("/dev/sr[0-9]*")):
        try:
            with open(device, "rb") as handle:
                text = find_root_file(handle, CD_NAMES)
        except OSError as exc:
            log("%s: %s" % (device, exc))
            continue
        if text is not None:
            log("OVF environment found on %s" % device)
            return text
    return None


def find_root_file(handle, names):
    """Bytes of the first file named in `names` in an ISO 9660 root directory, or None.

    ECMA-119 8.4: the primary volume descriptor is at sector 16, its root
    directory record at offset 156; 9.1: directory records. Names compare
    case-insensitively, without the ';1' version.
    """
    handle.seek(16 * SECTOR)
    descriptor = handle.read(SECTOR)
    if len(descriptor) < SECTOR or descriptor[1:6] != b"CD001" or descriptor[0] != 1:
        return None
    root_extent, root_size = struct.unpack_from("<I4xI", descriptor, 156 + 2)
    handle.seek(root_extent * SECTOR)
    directory = handle.read(min(root_size, 64 * SECTOR))
    offset = 0
    wanted = set(name.upper() for name in names)
    while offset < len(directory):
        length = directory[offset]
        if length == 0:  # records never cross a sector: skip to the next one
            offset = (offset // SECTOR + 1) * SECTOR
            continue
        extent, size = struct.unpack_from("<I4xI", directory, offset + 2)
        name_length = directory[offset + 32]
        name = directory[offset + 33 : offset + 33 + name_length].decode("ascii", "replace").split(";")[0].upper()
        if name in wanted and size <= MAX_ENV_SIZE:
            handle.seek(extent * SECTOR)
            return handle.read(size).decode("utf-8")
        offset += length
    return None


def read_env_file(path):
    """The environment from a file given on the command line."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ENV_SIZE + 1)
    except FileNotFoundError:
        raise EnvironmentReadError("%s: no such file; pass the path of an OVF environment XML to --env" % path)
    except IsADirectoryError:
        raise EnvironmentReadError("%s is a directory; pass the path of an OVF environment XML to --env" % path)
    except OSError as exc:
        raise EnvironmentReadError("%s cannot be read: %s" % (path, exc.strerror or exc))
    if len(data) > MAX_ENV_SIZE:
        raise EnvironmentReadError("%s is larger than 1 MiB; that is not an OVF environment" % path)
    return data


def read_environment(env_file=None, log=lambda line: None):
    """(source name, XML) from the first transport that has one; (None, None) when none has."""
    if env_file:
        return env_file, read_env_file(env_file)
    for name, reader in (("VMware Tools guestinfo.ovfEnv", read_guestinfo), ("ovf-env.xml on a CD", read_cdrom)):
        text = reader(log=log)
        if text is not None:
            return name, text
    return None, None
