"""Ed25519 signing (RFC 8032, pure Ed25519) in pure MicroPython.

Only what a meter needs: derive the public key and sign. Verification lives
on the receivers (libsodium). Field elements are Python ints mod 2^255-19;
points use extended twisted-Edwards coordinates (X, Y, Z, T) so no inversion
is needed until the final encoding.

Fixed-base multiplication uses a 4-bit window over 16 multiples of B
(252 doublings + 64 additions, under 1 KB of heap). A full comb table
(32 x 8 points) was measured at ~125 KB of heap for a ~2 ms gain per
signature -- SHA-512 dominates signing time -- so it is not used.
Not constant-time: a meter signs its own public readings, and an attacker
close enough to time it could read the key from flash anyway.
"""

from signing.sha512 import sha512

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, P - 2, P)) % P
_D2 = (2 * _D) % P
_BY = (4 * pow(5, P - 2, P)) % P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202


def _add(p, q):
    """p + q; q is in cached form (Y+X, Y-X, 2dT, 2Z)."""
    x1, y1, z1, t1 = p
    ypx, ymx, t2d, z2 = q
    a = (y1 - x1) * ymx % P
    b = (y1 + x1) * ypx % P
    c = t1 * t2d % P
    d = z1 * z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    s = x1 + y1
    e = h - s * s % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _cached(p):
    x, y, z, t = p
    return ((y + x) % P, (y - x) % P, t * _D2 % P, 2 * z % P)


def _encode(p):
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x = x * zi % P
    y = y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_IDENTITY = (0, 1, 1, 0)
_B = (_BX, _BY, 1, _BX * _BY % P)


class Signer:
    """An Ed25519 key ready to sign: expanded once, then reused per message."""

    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("seed must be 32 bytes")
        h = sha512(seed)
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        self._a = a
        self._prefix = h[32:]
        self.public_key = _encode(_window_mul(a))

    def sign(self, msg):
        """64-byte signature R || S over the exact bytes ``msg``."""
        r = int.from_bytes(sha512(self._prefix + msg), "little") % L
        big_r = _encode(_window_mul(r))
        k = int.from_bytes(sha512(big_r + self.public_key + msg), "little") % L
        s = (r + k * self._a) % L
        return big_r + s.to_bytes(32, "little")


def _window_mul(k):
    """k * B with a 4-bit window over 16 precomputed multiples (small heap)."""
    cb = _cached(_B)
    tab = [_cached(_IDENTITY), cb]
    acc = _B
    for _ in range(14):
        acc = _add(acc, cb)
        tab.append(_cached(acc))
    q = _IDENTITY
    for shift in range(252, -4, -4):
        q = _double(_double(_double(_double(q))))
        q = _add(q, tab[(k >> shift) & 15])
    return q
