# SHA-512, Ed25519 and envelope v1 encoding on MicroPython.
from binascii import hexlify, unhexlify

from harness import cases, result
from signing.ed25519 import Signer
from signing.envelope import gap_payload, reading_payload, wire_message
from signing.sha512 import sha512

for c in cases():
    kind = c["kind"]
    if kind == "sha512":
        data = unhexlify(c["data"])
        one = sha512(data)
        # The same bytes handed over in uneven parts give the same digest.
        parts = [data[i : i + 37] for i in range(0, len(data), 37)]
        result([hexlify(one).decode(), one == sha512(*parts)])
    elif kind == "ed25519":
        s = Signer(unhexlify(c["seed"]))
        result([hexlify(s.public_key).decode(), hexlify(s.sign(unhexlify(c["msg"]))).decode()])
    elif kind == "envelope":
        r = c["reading"]
        s = Signer(unhexlify(c["seed"]))
        if r["kind"] == "reading":
            p = reading_payload(r["meter"], r["seq"], r["ts"], r["clk"], r["int_s"], r, r["fw"])
        else:
            p = gap_payload(r["meter"], r["from_seq"], r["to_seq"], r["ts"], r["clk"], r["fw"])
        result(wire_message(r["meter"], p, s.sign(p)).decode())
