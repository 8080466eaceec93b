"""SHA-512 crypt ($6$, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512").

Pure Python because the `crypt` module is gone in Python 3.13 and absent
from some builds; /etc/shadow and HAProxy's userlist both read these hashes
through libc's crypt(3).
"""

import hashlib
import hmac
import secrets

_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DEFAULT_ROUNDS = 5000
_CHUNK_BYTES = 1 << 20
# Byte order of the final 64-byte digest in the output encoding (spec, step 22).
_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)


def _b64(b2, b1, b0, count):
    value = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(count):
        out.append(_ALPHABET[value & 0x3F])
        value >>= 6
    return "".join(out)


def _repeat(digest, length):
    return (digest * (length // 64 + 1))[:length]


def _digest_of_repeats(data, count):
    """sha512(data * count) fed in chunks: memory stays O(len(data)).

    The spec (steps 13-15) hashes the password once per character, so the
    work is quadratic in its length by design; only the buffer was not.
    """
    context = hashlib.sha512()
    if data:
        per_chunk = max(1, _CHUNK_BYTES // len(data))
        chunk = data * min(per_chunk, count)
        full, rest = divmod(count, per_chunk)
        for _ in range(full):
            context.update(chunk)
        context.update(data * rest)
    return context.digest()


def sha512_crypt(password, salt=None, rounds=None):
    """Return the $6$ hash of `password`; a random 16-character salt when none is given."""
    if salt is None:
        salt = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    salt = salt[:16]
    key = password.encode("utf-8")
    salt_bytes = salt.encode("ascii")
    explicit_rounds = rounds is not None
    rounds = _DEFAULT_ROUNDS if rounds is None else max(1000, min(999999999, rounds))

    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    context = hashlib.sha512(key + salt_bytes + _repeat(alternate, len(key)))
    length = len(key)
    while length:
        context.update(alternate if length & 1 else key)
        length >>= 1
    digest_a = context.digest()

    p_bytes = _repeat(_digest_of_repeats(key, len(key)), len(key))
    s_bytes = _repeat(hashlib.sha512(salt_bytes * (16 + digest_a[0])).digest(), len(salt_bytes))

    digest = digest_a
    for index in range(rounds):
        step = hashlib.sha512(p_bytes if index & 1 else digest)
        if index % 3:
            step.update(s_bytes)
        if index % 7:
            step.update(p_bytes)
        step.update(digest if index & 1 else p_bytes)
        digest = step.digest()

    encoded = "".join(_b64(digest[a], digest[b], digest[c], 4) for a, b, c in _ORDER)
    encoded += _b64(0, 0, digest[63], 2)
    prefix = "$6$rounds=%d$" % rounds if explicit_rounds else "$6$"
    return "%s%s$%s" % (prefix, salt, encoded)


def verify(password, hashed):
    """True when `hashed` is a $6$ hash of `password` (constant-time compare)."""
    if not hashed.startswith("$6$"):
        return False
    fields = hashed[3:].split("$")
    rounds = None
    if fields[0].startswith("rounds="):
        try:
            rounds = int(fields[0][len("rounds="):])
        except ValueError:
            return False
        fields = fields[1:]
    if len(fields) != 2:
        return False
    return hmac.compare_digest(sha512_crypt(password, fields[0], rounds), hashed)
