"""Run the daemons' own config checkers on rendered files before they go live."""

import os
import shutil
import subprocess
import tempfile

from .errors import ConfigCheckError

CHECK_TIMEOUT = 60


def _run(command):
    try:
        return subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=CHECK_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise ConfigCheckError("%s did not finish within %d s" % (command[0], CHECK_TIMEOUT))


def check_haproxy(path, binary=None):
    """`haproxy -c`: returns its warnings; raises ConfigCheckError on an invalid config."""
    binary = binary or shutil.which("haproxy")
    if not binary:
        return None
    result = _run([binary, "-c", "-f", path])
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0:
        alerts = [line for line in lines if "ALERT" in line] or lines or ["exit status %d" % result.returncode]
        raise ConfigCheckError("haproxy -c rejected the rendered haproxy.cfg: %s" % alerts[0])
    return [line for line in lines if "WARNING" in line]


def check_keepalived(path, binary=None):
    """`keepalived --config-test`: returns its messages; raises ConfigCheckError on errors.

    keepalived 2.2.7 ends a config test by signalling itself, so its exit
    status says nothing: what it reports goes to the file named in
    --config-test=FILE, and a clean config reports nothing.
    """
    binary = binary or shutil.which("keepalived")
    if not binary:
        return None
    descriptor, report = tempfile.mkstemp(prefix="keepalived-test-", suffix=".log")
    os.close(descriptor)
    try:
        result = _run([binary, "--config-test=%s" % report, "-f", path])
        with open(report, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    finally:
        os.unlink(report)
    if result.returncode not in (0, -15, 143) and not lines:
        lines = ["exit status %d: %s" % (result.returncode, result.stdout.strip())]
    if lines:
        raise ConfigCheckError("keepalived --config-test rejected the rendered keepalived.conf: %s" % lines[0])
    return []


def _with_scratch_certificates(config, by_path, scratch):
    """haproxy.cfg pointed at the rendered certificates in scratch (haproxy -c loads them)."""
    from .render import STATS_CERT_BASE

    relative_base = STATS_CERT_BASE.lstrip("/") + "/"
    certificates = [output for path, output in by_path.items() if path.startswith(relative_base)]
    if not certificates:
        return config
    directory = os.path.join(scratch, "certs")
    os.mkdir(directory, 0o700)
    for output in certificates:
        descriptor = os.open(os.path.join(directory, output.path[len(relative_base):]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(output.content)
    line = ("crt-base %s\n" % STATS_CERT_BASE).encode("ascii")
    return config.replace(line, ("crt-base %s\n" % directory).encode("ascii"))


def check_rendered(outputs, log):
    """Check the rendered HAProxy and keepalived configs in a scratch directory."""
    by_path = dict((output.path, output) for output in outputs)
    scratch = tempfile.mkdtemp(prefix="appliance-agent-check-")
    try:
        for relative, checker, name in (
            ("etc/haproxy/haproxy.cfg", check_haproxy, "haproxy -c"),
            ("etc/keepalived/keepalived.conf", check_keepalived, "keepalived --config-test"),
        ):
            output = by_path.get(relative)
            if output is None:
                continue
            path = os.path.join(scratch, os.path.basename(relative))
            content = output.content
            if relative == "etc/haproxy/haproxy.cfg":
                content = _with_scratch_certificates(content, by_path, scratch)
            with open(path, "wb") as handle:
                handle.write(content)
            warnings = checker(path)
            if warnings is None:
                log("%s: not installed here, check skipped" % name.split()[0])
                continue
            for warning in warnings:
                log("%s: %s" % (name, warning))
            log("%s: ok" % name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
