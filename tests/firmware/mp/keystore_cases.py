# Key file lifecycle: create on first boot, reload the same key, refuse a
# damaged file, refuse a broken RNG.
import os
from binascii import hexlify

from harness import cases, result
from signing.keystore import KeyStoreError, load_or_create, public_key_hex

for c in cases():
    path = c["path"]
    rng = os.urandom if c.get("rng") != "zeros" else (lambda n: bytes(n))
    try:
        signer, created = load_or_create(path, rng)
        result({"pub": public_key_hex(signer), "created": created,
                "sig": hexlify(signer.sign(b"probe")).decode()})
    except KeyStoreError as exc:
        result({"reason": exc.reason})
