"""SHA-512 (FIPS 180-4) in pure MicroPython.

MicroPython's hashlib has no sha512 on the ESP32 port, and Ed25519 needs it.
Words are Python ints masked to 64 bits; the round function is unrolled by
hand just enough to keep the eight working variables in locals, which is what
MicroPython's bytecode makes cheap.
"""

import struct
from binascii import unhexlify

_M = 0xFFFFFFFFFFFFFFFF

# Round constants and initial hash value as packed bytes: 80 separate 64-bit
# ints would be heap objects costing ~6 KB for the life of the program.
_K_BYTES = unhexlify(
    "428A2F98D728AE227137449123EF65CDB5C0FBCFEC4D3B2FE9B5DBA58189DBBC"
    "3956C25BF348B53859F111F1B605D019923F82A4AF194F9BAB1C5ED5DA6D8118"
    "D807AA98A303024212835B0145706FBE243185BE4EE4B28C550C7DC3D5FFB4E2"
    "72BE5D74F27B896F80DEB1FE3B1696B19BDC06A725C71235C19BF174CF692694"
    "E49B69C19EF14AD2EFBE4786384F25E30FC19DC68B8CD5B5240CA1CC77AC9C65"
    "2DE92C6F592B02754A7484AA6EA6E4835CB0A9DCBD41FBD476F988DA831153B5"
    "983E5152EE66DFABA831C66D2DB43210B00327C898FB213FBF597FC7BEEF0EE4"
    "C6E00BF33DA88FC2D5A79147930AA72506CA6351E003826F142929670A0E6E70"
    "27B70A8546D22FFC2E1B21385C26C9264D2C6DFC5AC42AED53380D139D95B3DF"
    "650A73548BAF63DE766A0ABB3C77B2A881C2C92E47EDAEE692722C851482353B"
    "A2BFE8A14CF10364A81A664BBC423001C24B8B70D0F89791C76C51A30654BE30"
    "D192E819D6EF5218D69906245565A910F40E35855771202A106AA07032BBD1B8"
    "19A4C116B8D2D0C81E376C085141AB532748774CDF8EEB9934B0BCB5E19B48A8"
    "391C0CB3C5C95A634ED8AA4AE3418ACB5B9CCA4F7763E373682E6FF3D6B2B8A3"
    "748F82EE5DEFB2FC78A5636F43172F6084C87814A1F0AB728CC702081A6439EC"
    "90BEFFFA23631E28A4506CEBDE82BDE9BEF9A3F7B2C67915C67178F2E372532B"
    "CA273ECEEA26619CD186B8C721C0C207EADA7DD6CDE0EB1EF57D4F7FEE6ED178"
    "06F067AA72176FBA0A637DC5A2C898A6113F9804BEF90DAE1B710B35131C471B"
    "28DB77F523047D8432CAAB7B40C724933C9EBE0A15C9BEBC431D67C49C100D4C"
    "4CC5D4BECB3E42B6597F299CFC657E2A5FCB6FAB3AD6FAEC6C44198C4A475817"
)
_IV_BYTES = unhexlify(
    "6A09E667F3BCC908BB67AE8584CAA73B3C6EF372FE94F82BA54FF53A5F1D36F1"
    "510E527FADE682D19B05688C2B3E6C1F1F83D9ABFB41BD6B5BE0CD19137E2179"
)


def _compress(h, block, w):
    """Mix one 128-byte block into state list ``h``; ``w`` is a reusable 80-slot list."""
    M = _M
    K = struct.unpack(">80Q", _K_BYTES)
    w[0:16] = struct.unpack(">16Q", block)
    for t in range(16, 80):
        x = w[t - 15]
        y = w[t - 2]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        s1 = ((y >> 19) | (y << 45)) ^ ((y >> 61) | (y << 3)) ^ (y >> 6)
        w[t] = (w[t - 16] + (s0 & M) + w[t - 7] + (s1 & M)) & M
    a, b, c, d, e, f, g, hh = h
    for t in range(80):
        s1 = (((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))) & M
        t1 = hh + s1 + ((e & f) ^ (~e & g)) + K[t] + w[t]
        s0 = (((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))) & M
        t2 = s0 + ((a & b) ^ (a & c) ^ (b & c))
        hh = g
        g = f
        f = e
        e = (d + t1) & M
        d = c
        c = b
        b = a
        a = (t1 + t2) & M
    h[0] = (h[0] + a) & M
    h[1] = (h[1] + b) & M
    h[2] = (h[2] + c) & M
    h[3] = (h[3] + d) & M
    h[4] = (h[4] + e) & M
    h[5] = (h[5] + f) & M
    h[6] = (h[6] + g) & M
    h[7] = (h[7] + hh) & M


class SHA512:
    """Incremental SHA-512 with the hashlib-style update()/digest() API."""

    def __init__(self, data=b""):
        self._h = list(struct.unpack(">8Q", _IV_BYTES))
        self._buf = b""
        self._len = 0
        self._w = [0] * 80
        if data:
            self.update(data)

    def update(self, data):
        self._len += len(data)
        buf = self._buf + bytes(data)
        n = len(buf) & ~127
        mv = memoryview(buf)
        for off in range(0, n, 128):
            _compress(self._h, mv[off : off + 128], self._w)
        self._buf = bytes(mv[n:])
        return self

    def digest(self):
        """The 64-byte digest; the object stays usable (state is copied)."""
        h = list(self._h)
        bits = self._len * 8
        pad = b"\x80" + b"\x00" * ((111 - self._len) % 128)
        tail = self._buf + pad + struct.pack(">QQ", bits >> 64, bits & _M)
        for off in range(0, len(tail), 128):
            _compress(h, tail[off : off + 128], self._w)
        return struct.pack(">8Q", *h)


def sha512(data):
    """One-shot SHA-512 digest of ``data``."""
    return SHA512(data).digest()
