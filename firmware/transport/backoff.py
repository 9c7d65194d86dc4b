"""Reconnect policy: exponential backoff with jitter, capped.

A fleet of meters that lost the same broker must not reconnect in lockstep,
so every delay is drawn uniformly from [delay/2, delay].
"""

import time


class Backoff:
    """Tracks when the next attempt is allowed (``ticks_ms`` based)."""

    def __init__(self, initial_ms, max_ms, rng):
        self.initial_ms = initial_ms
        self.max_ms = max_ms
        self._rng = rng  # rng(n) -> n random bytes
        self._delay_ms = 0
        self._next = time.ticks_ms()
        self.failures = 0

    def ready(self):
        """True when an attempt may be made now."""
        return time.ticks_diff(time.ticks_ms(), self._next) >= 0

    def failure(self):
        """Record a failed attempt; returns the delay before the next one (ms)."""
        self.failures += 1
        if self._delay_ms == 0:
            self._delay_ms = self.initial_ms
        else:
            self._delay_ms = min(self.max_ms, self._delay_ms * 2)
        r = int.from_bytes(self._rng(2), "big")  # 0..65535
        wait = self._delay_ms // 2 + (self._delay_ms // 2) * r // 65535
        self._next = time.ticks_add(time.ticks_ms(), wait)
        return wait

    def success(self):
        """Reset after a successful attempt."""
        self._delay_ms = 0
        self.failures = 0
        self._next = time.ticks_ms()
