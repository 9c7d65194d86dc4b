"""The firmware's constant base-point table, recomputed independently.

The table in firmware/signing/ed25519.py is data, so it gets its own check:
j * B for j = 0..15 with plain affine Edwards addition (RFC 8032 section 5.1)
in CPython, encoded as (y+x, y-x, 2d*x*y)."""

from __future__ import annotations

import sys
from pathlib import Path

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P


def _recover_x(y: int) -> int:
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    return P - x if x & 1 else x


def _affine_add(p: tuple[int, int], q: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p, q
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def test_base_multiples_table() -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "firmware"))
    try:
        from signing import ed25519

        table = ed25519._BASE_MULTIPLES
    finally:
        sys.path.pop(0)
        for name in ("signing", "signing.ed25519", "signing.sha512"):
            sys.modules.pop(name, None)
    by = 4 * pow(5, P - 2, P) % P
    base = (_recover_x(by), by)
    point = (0, 1)
    expected = b""
    for _ in range(16):
        x, y = point
        for v in ((y + x) % P, (y - x) % P, 2 * D * x * y % P):
            expected += v.to_bytes(32, "little")
        point = _affine_add(point, base)
    assert table == expected
