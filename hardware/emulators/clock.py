"""Simulated clocks: what time of day the emulated meter believes it is.

Passed into the meter (never read from the OS inside the physics), so tests choose:
:class:`ManualClock` to freeze time at an exact instant and compare register values
with the profile, or :class:`AcceleratedClock` to run a whole day in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from hardware.errors import EmulatorError


class SimClock(Protocol):
    """Anything with ``now_s()``: simulated seconds since midnight of day 0."""

    def now_s(self) -> float: ...


class ManualClock:
    """A clock that moves only when told to (``set`` / ``advance``)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._t_s = float(start_s)

    def now_s(self) -> float:
        return self._t_s

    def set(self, t_s: float) -> None:
        """Jump to ``t_s``; time never runs backwards on a meter."""
        if t_s < self._t_s:
            raise EmulatorError("clock_backwards", f"{t_s} < {self._t_s}")
        self._t_s = float(t_s)

    def advance(self, dt_s: float) -> None:
        self.set(self._t_s + dt_s)


class AcceleratedClock:
    """Wall time scaled by ``acceleration`` from ``start_s``, optionally held at ``stop_s``.

    ``acceleration=3600`` runs an hour per second; a day at 8640x takes 10 s. With
    ``stop_s`` set the clock stops there (the simulated day ends and counters freeze),
    which lets a test read the end-of-day counters exactly.
    """

    def __init__(
        self,
        acceleration: float = 1.0,
        start_s: float = 0.0,
        stop_s: float | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if acceleration <= 0:
            raise EmulatorError("bad_acceleration", f"acceleration {acceleration} must be > 0")
        if stop_s is not None and stop_s < start_s:
            raise EmulatorError("bad_stop", f"stop_s {stop_s} < start_s {start_s}")
        self.acceleration = acceleration
        self.start_s = start_s
        self.stop_s = stop_s
        self._wall = wall
        self._wall0 = wall()

    def restart(self) -> None:
        """Start counting from ``start_s`` again (called when the meter goes live)."""
        self._wall0 = self._wall()

    def now_s(self) -> float:
        t_s = self.start_s + (self._wall() - self._wall0) * self.acceleration
        return t_s if self.stop_s is None else min(t_s, self.stop_s)
