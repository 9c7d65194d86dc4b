"""Capped exponential backoff with jitter for reconnecting (policy, no I/O)."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays ``min_s, 2*min_s, 4*min_s ...`` up to ``max_s``, each with +-20 % jitter.

    Jitter keeps a fleet of gateways from reconnecting in lock-step after a cloud
    outage. :meth:`reset` after a connection that worked.
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._next = min_s
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.max_s)
        return min(delay * self._rng.uniform(0.8, 1.2), self.max_s)

    def reset(self) -> None:
        self._next = self.min_s
