"""The statistics page's certificate: the admin's bundle, checked, or one made on the node.

Everything goes through the `openssl` command (Photon's minimal install has
it; 1.0.2 on Photon 3, 1.1.1 on 4, 3.x on 5), with options all three take:
no `-addext` (1.1.1+), no `-ext` (1.1.1+); extensions come from a config
file. Private keys live only in a private temporary directory and in the
0600 output file; no key material is logged.

A generated certificate is kept while the names it must carry stay the
same (re-applies and reboots change nothing), and replaced when they
change, when it is within 30 days of expiring, or when the admin's own
certificate is removed.
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from . import files
from .errors import ApplyError, ValidationError
from .render import OutputFile, UNIT_HAPROXY

CERT_FILE = "etc/haproxy/certs/stats.pem"
CERT_BASE = "/etc/haproxy/certs"  # haproxy.cfg's crt-base: checks.py points it at a scratch copy
KEY = "stats.tls_certificate"
VALID_DAYS = 825  # CA/Browser Forum maximum for a server certificate (since 2018)
RENEW_SECONDS = 30 * 86400
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\n(.*?)\n-----END CERTIFICATE-----", re.S)


def _openssl():
    binary = shutil.which("openssl")
    if not binary:
        raise ApplyError("openssl is not installed; it is needed for the statistics page's certificate (install the openssl package)")
    return binary


def _run(args, stdin=None):
    try:
        return subprocess.run(
            [_openssl()] + args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        raise ApplyError("openssl %s did not finish within 60 s" % args[0])


def fingerprint(pem_text):
    """SHA-256 fingerprint of the first certificate, as browsers show it (AB:CD:...)."""
    match = _PEM_CERT.search(pem_text)
    digest = hashlib.sha256(base64.b64decode("".join(match.group(1).split()))).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def certificate_names(text_output):
    """(IP addresses, DNS names) of the Subject Alternative Name in `openssl x509 -text` output."""
    lines = text_output.splitlines()
    for index, line in enumerate(lines):
        if "X509v3 Subject Alternative Name" in line and index + 1 < len(lines):
            entries = [entry.strip() for entry in lines[index + 1].split(",")]
            addresses = set(entry.split(":", 1)[1] for entry in entries if entry.startswith("IP Address:"))
            names = set(entry.split(":", 1)[1].lower() for entry in entries if entry.startswith("DNS:"))
            return addresses, names
    return set(), set()


class _Scratch:
    """A private directory (0700) for key material, removed on exit."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="appliance-agent-tls-")
        return self

    def write(self, name, text):
        path = os.path.join(self.path, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        return path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def inspect(pem_text):
    """`openssl x509 -text` of the bundle's first certificate, or None when it does not parse."""
    with _Scratch() as scratch:
        path = scratch.write("bundle.pem", pem_text)
        result = _run(["x509", "-noout", "-text", "-in", path])
        if result.returncode != 0:
            return None
        return result.stdout.decode("utf-8", "replace")


def _valid_for(pem_text, seconds):
    with _Scratch() as scratch:
        path = scratch.write("bundle.pem", pem_text)
        return _run(["x509", "-noout", "-checkend", str(int(seconds)), "-in", path]).returncode == 0


def check_bundle(pem_text, settings):
    """The admin's bundle: parses, the key is the certificate's, current, and names what it must.

    Raises ValidationError naming stats.tls_certificate, one line.
    """
    def refuse(message):
        raise ValidationError([(KEY, message)])

    with _Scratch() as scratch:
        path = scratch.write("bundle.pem", pem_text)
        text = _run(["x509", "-noout", "-text", "-in", path])
        if text.returncode != 0:
            refuse("the first certificate does not parse; put the server certificate first, in PEM")
        certificate_key = _run(["x509", "-noout", "-pubkey", "-in", path])
        private_key = _run(["pkey", "-pubout", "-in", path])
        if private_key.returncode != 0:
            refuse("the private key does not parse; export it unencrypted in PEM (openssl pkey -in key.pem)")
        if certificate_key.stdout.strip() != private_key.stdout.strip():
            refuse("the private key is not the first certificate's key; put the server certificate first and its own key")
        if _run(["x509", "-noout", "-checkend", "0", "-in", path]).returncode != 0:
            refuse("the certificate has expired; renew it and paste the new bundle")
    addresses, _ = certificate_names(text.stdout.decode("utf-8", "replace"))
    required = settings.tls_names[0][0]  # the management VIP, else the node's own address
    if required not in addresses:
        refuse("the certificate does not name %s (an IP address entry in its Subject Alternative Name); "
               "reissue it with IP:%s" % (required, required))


def _common_name(settings):
    """The subject's CN: X.509 caps it at 64 characters, so a longer FQDN gives way to the host name.

    Clients match the Subject Alternative Name, which holds every name in full.
    """
    return settings.fqdn if len(settings.fqdn) <= 64 else settings.hostname


def _generate(settings):
    """A new self-signed P-256 certificate (valid 825 days) and key, as one PEM text."""
    addresses, names = settings.tls_names
    alt_names = ",".join(["IP:%s" % address for address in addresses] + ["DNS:%s" % name for name in names])
    config = (
        "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n"
        "[dn]\nCN = %s\n"
        "[v3]\nsubjectAltName = %s\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n" % (_common_name(settings), alt_names)
    )
    with _Scratch() as scratch:
        key = os.path.join(scratch.path, "key.pem")
        cert = os.path.join(scratch.path, "cert.pem")
        cnf = scratch.write("req.cnf", config)
        result = _run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
        if result.returncode == 0:
            os.chmod(key, 0o600)
            serial = "0x" + os.urandom(16).hex()
            result = _run(["req", "-new", "-x509", "-sha256", "-days", str(VALID_DAYS), "-set_serial", serial,
                           "-key", key, "-config", cnf, "-out", cert])  # fmt: skip
        if result.returncode != 0:
            raise ApplyError("openssl could not make the statistics page's certificate: %s"
                             % result.stderr.decode("utf-8", "replace").strip().splitlines()[:1])
        with open(cert) as handle:
            cert_text = handle.read()
        with open(key) as handle:
            key_text = handle.read()
    return cert_text + key_text


def _reusable(current, settings):
    """The node's own certificate still fits: it parses, names exactly what it must, and is not about to expire."""
    text = inspect(current)
    if text is None:
        return False
    addresses, names = certificate_names(text)
    wanted_addresses, wanted_names = settings.tls_names
    if addresses != set(wanted_addresses) or names != set(wanted_names):
        return False
    return _valid_for(current, RENEW_SECONDS)


def stats_certificate(settings, root, previous):
    """(OutputFile of the HAProxy crt file, state record) for this apply.

    `previous` is the "tls" record of the last good apply ({"source": ...}).
    """
    if settings.stats_tls_bundle:
        check_bundle(settings.stats_tls_bundle, settings)
        pem, source = settings.stats_tls_bundle, "provided"
    else:
        current = (files.read_current(root, CERT_FILE) or b"").decode("ascii", "replace")
        if current and previous.get("source") == "generated" and _reusable(current, settings):
            pem = current
        else:
            pem = _generate(settings)
        source = "generated"
    output = OutputFile(CERT_FILE, pem.encode("ascii"), mode=0o600, unit=UNIT_HAPROXY)
    return output, {"source": source, "fingerprint": fingerprint(pem)}
