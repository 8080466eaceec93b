"""Where the OVF environment comes from. Each transport returns the XML text or None.

Order on the appliance: VMware Tools (guestinfo.ovfEnv), then an
ovf-env.xml on a CD (the OVF ISO transport). `--env FILE` replaces both.
"""

import errno
import glob
import os
import shutil
import struct
import subprocess
import time

from .errors import EnvironmentReadError
from .limits import printable

GUESTINFO_COMMANDS = (
    ["vmware-rpctool", "info-get guestinfo.ovfEnv"],
    ["vmtoolsd", "--cmd", "info-get guestinfo.ovfEnv"],
)
CD_NAMES = ("OVF-ENV.XML", "OVF_ENV.XML")
SECTOR = 2048
MAX_ENV_SIZE = 1024 * 1024
SETTLE_SECONDS = 10
CD_WAIT_SECONDS = 10  # after udev settled: a CD driver or medium showing up late
CD_POLL_SECONDS = 0.25


def read_guestinfo(log=lambda line: None, run=subprocess.run):
    """guestinfo.ovfEnv through VMware Tools, as bytes. Exit 1 / 'No value found' means absent.

    Bytes, not text: the XML parser decodes them and says in one line when
    they are not UTF-8.
    """
    for command in GUESTINFO_COMMANDS:
        if not shutil.which(command[0]):
            continue
        try:
            result = run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log("%s failed: %s" % (command[0], exc))
            continue
        data = result.stdout.strip()
        if len(data) > MAX_ENV_SIZE:
            raise EnvironmentReadError("guestinfo.ovfEnv is larger than 1 MiB; that is not an OVF environment")
        if result.returncode == 0 and data and not data.startswith(b"No value found"):
            return data
        if result.returncode == 1 or data.startswith(b"No value found"):
            return None
        log("%s exited with %d: %s" % (command[0], result.returncode, printable(result.stderr.decode("utf-8", "replace").strip(), 200)))
    return None


def udev_settle(run=subprocess.run):
    """Let udev finish the device events queued so far (bounded), when udevadm exists."""
    if shutil.which("udevadm"):
        try:
            run(["udevadm", "settle", "--timeout=%d" % SETTLE_SECONDS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=SETTLE_SECONDS + 5)
        except (OSError, subprocess.TimeoutExpired):
            pass


def cd_devices(dev_dir):
    return sorted(glob.glob(os.path.join(dev_dir, "sr[0-9]*")))


def read_cdrom(devices=None, log=lambda line: None, dev_dir="/dev", wait=CD_WAIT_SECONDS, settle=None):
    """ovf-env.xml from the root directory of an ISO 9660 CD, read without mounting.

    With no device list given, look for /dev/sr*: a kernel that loads the CD
    driver late creates it after the agent starts, so when there is none yet
    let udev settle and then poll for up to `wait` seconds. A drive without
    a medium (ENOMEDIUM) is polled the same way, since the medium shows up
    a moment after the drive.
    """
    if devices is not None:
        return _read_devices(devices, log)[0]
    if wait <= 0:
        return _read_devices(cd_devices(dev_dir), log)[0]
    deadline = time.monotonic() + wait
    settled = False
    announced = False
    while True:
        found = cd_devices(dev_dir)
        if found:
            text, retry = _read_devices(found, log)
            if text is not None or not retry:
                return text
        elif not settled:
            (settle or udev_settle)()
            settled = True
            continue
        if time.monotonic() >= deadline:
            if not found:
                log("no CD device appeared within %d s" % wait)
            return None
        if not announced:
            log("waiting up to %d s for a CD with ovf-env.xml" % wait)
            announced = True
        time.sleep(CD_POLL_SECONDS)


def _read_devices(devices, log):
    """(bytes or None, whether a device may still become readable)."""
    retry = False
    for device in devices:
        try:
            with open(device, "rb") as handle:
                data = find_root_file(handle, CD_NAMES)
        except MalformedMedium as exc:
            log("%s: %s; skipping this disc" % (device, exc))
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOMEDIUM, errno.ENXIO, errno.EBUSY):
                retry = True
            log("%s: %s" % (device, exc.strerror or exc))
            continue
        if data is not None:
            log("OVF environment found on %s" % device)
            return data, False
    return None, retry


class MalformedMedium(Exception):
    """The disc's ISO 9660 structures point outside themselves."""


def find_root_file(handle, names):
    """Bytes of the first file named in `names` in an ISO 9660 root directory, or None.

    ECMA-119 8.4: the primary volume descriptor is at sector 16, its root
    directory record at offset 156; 9.1: directory records. Names compare
    case-insensitively, without the ';1' version. Raises MalformedMedium
    when a record does not fit where it claims to be.
    """
    handle.seek(16 * SECTOR)
    descriptor = handle.read(SECTOR)
    if len(descriptor) < SECTOR or descriptor[1:6] != b"CD001" or descriptor[0] != 1:
        return None
    root_extent, root_size = struct.unpack_from("<I4xI", descriptor, 156 + 2)
    handle.seek(root_extent * SECTOR)
    directory = handle.read(min(root_size, 64 * SECTOR))
    if len(directory) < min(root_size, 64 * SECTOR) or root_size < 34:
        raise MalformedMedium("the root directory lies outside the disc (extent %d, %d bytes)" % (root_extent, root_size))
    offset = 0
    wanted = set(name.upper() for name in names)
    while offset < len(directory):
        length = directory[offset]
        if length == 0:  # records never cross a sector: skip to the next one
            offset = (offset // SECTOR + 1) * SECTOR
            continue
        if length < 34 or offset + length > len(directory) or 33 + directory[offset + 32] > length:
            raise MalformedMedium("a record of the root directory is malformed (at byte %d)" % offset)
        extent, size = struct.unpack_from("<I4xI", directory, offset + 2)
        flags = directory[offset + 25]
        name_length = directory[offset + 32]
        name = directory[offset + 33 : offset + 33 + name_length].decode("ascii", "replace").split(";")[0].upper()
        if name in wanted and not flags & 0x02:
            if size > MAX_ENV_SIZE:
                raise MalformedMedium("%s is larger than 1 MiB; that is not an OVF environment" % name)
            handle.seek(extent * SECTOR)
            data = handle.read(size)
            if len(data) < size:
                raise MalformedMedium("%s lies beyond the end of the disc" % name)
            return data
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


def read_environment(env_file=None, log=lambda line: None, dev_dir="/dev", cd_wait=CD_WAIT_SECONDS):
    """(source name, XML bytes) from the first transport that has one; (None, None) when none has."""
    if env_file:
        return env_file, read_env_file(env_file)
    data = read_guestinfo(log=log)
    if data is not None:
        return "VMware Tools guestinfo.ovfEnv", data
    data = read_cdrom(log=log, dev_dir=dev_dir, wait=cd_wait)
    if data is not None:
        return "ovf-env.xml on a CD", data
    return None, None
