"""The device key: generated once from the hardware RNG, kept on flash.

The file holds the 32-byte Ed25519 seed followed by a CRC-32 of it, so a
damaged key file is detected instead of silently signing with a different
key. A damaged key is never replaced automatically: the registered public
key would stop matching, so the operator must re-register deliberately
(deploy.py --new-key).
"""

import os
from binascii import crc32, hexlify

from signing.ed25519 import Signer

SEED_BYTES = 32


class KeyStoreError(Exception):
    """Key file problem; reason: corrupt_key_file, rng_failure."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)  # atomic on littlefs and POSIX


def load_or_create(path, rng):
    """(Signer, created) for the key at ``path``; creates it with ``rng(n)``."""
    if _exists(path):
        with open(path, "rb") as f:
            blob = f.read()
        if len(blob) != SEED_BYTES + 4 or crc32(blob[:SEED_BYTES]).to_bytes(4, "big") != blob[SEED_BYTES:]:
            raise KeyStoreError("corrupt_key_file")
        return Signer(blob[:SEED_BYTES]), False
    seed = bytes(rng(SEED_BYTES))
    if len(seed) != SEED_BYTES or seed == bytes(SEED_BYTES):
        raise KeyStoreError("rng_failure")
    _write_atomic(path, seed + crc32(seed).to_bytes(4, "big"))
    return Signer(seed), True


def public_key_hex(signer):
    """The public key as 64 hex digits, the form used for registration."""
    return hexlify(signer.public_key).decode()
