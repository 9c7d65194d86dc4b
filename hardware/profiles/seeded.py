"""Seeded per-slot random values, the only source of randomness in profiles.

Each (seed, purpose, day) gets its own ``random.Random`` so evaluating hour 18 does not
depend on whether hour 6 was evaluated first, and two profiles never share a stream.
String seeds are hashed with SHA-512 by ``random`` and are stable across runs and
platforms.
"""

from __future__ import annotations

import random
from functools import lru_cache

DAY_S = 86_400


@lru_cache(maxsize=64)
def day_slots(seed: int, purpose: str, day: int, slots: int) -> tuple[float, ...]:
    """``slots`` uniform values in [0, 1) for one day; cached because profiles re-read them."""
    rng = random.Random(f"{seed}:{purpose}:{day}")
    return tuple(rng.random() for _ in range(slots))


def day_rng(seed: int, purpose: str, day: int) -> random.Random:
    """A fresh generator for one-off draws of a day (e.g. EV arrival time)."""
    return random.Random(f"{seed}:{purpose}:{day}")


def interpolated(seed: int, purpose: str, t_s: float, slot_s: int) -> float:
    """Piecewise-linear value in [0, 1) over slots of ``slot_s`` seconds (smooth in time)."""
    slots = DAY_S // slot_s
    day, in_day = divmod(t_s, DAY_S)
    pos = in_day / slot_s
    i = int(pos)
    frac = pos - i
    values = day_slots(seed, purpose, int(day), slots + 1)
    return values[i] * (1.0 - frac) + values[i + 1] * frac
