"""EV charger: one seeded charging session per evening."""

from __future__ import annotations

from dataclasses import dataclass

from hardware.errors import ProfileError
from hardware.profiles.seeded import DAY_S, day_rng


@dataclass(frozen=True)
class EvChargerProfile:
    """A wallbox that charges at ``charge_power_w`` from arrival until the car is full.

    Arrival is drawn per day around ``arrival_h`` (+- ``arrival_spread_h``) and the energy
    needed between ``min_session_wh`` and ``max_session_wh``; the session ends when that
    energy is delivered (constant power, as a wallbox at a fixed current limit does).
    ``enabled=False`` models a home without an EV.
    """

    charge_power_w: float = 7_400.0
    arrival_h: float = 18.5
    arrival_spread_h: float = 1.0
    min_session_wh: float = 6_000.0
    max_session_wh: float = 18_000.0
    power_factor: float = 0.99
    enabled: bool = True
    seed: int = 1

    def __post_init__(self) -> None:
        if self.charge_power_w <= 0:
            raise ProfileError("bad_charge_power", "charge_power_w must be > 0")
        if not 0 < self.min_session_wh <= self.max_session_wh:
            raise ProfileError("bad_session", "need 0 < min_session_wh <= max_session_wh")

    def session(self, day: int) -> tuple[float, float]:
        """(start_s, end_s) of ``day``'s session in seconds since midnight of day 0."""
        rng = day_rng(self.seed, "ev", day)
        start_h = self.arrival_h + (2.0 * rng.random() - 1.0) * self.arrival_spread_h
        energy_wh = self.min_session_wh + rng.random() * (self.max_session_wh - self.min_session_wh)
        start_s = day * DAY_S + start_h * 3600.0
        return start_s, start_s + energy_wh / self.charge_power_w * 3600.0

    def power_w(self, t_s: float) -> float:
        """Charging power at ``t_s``; sessions may run past midnight into the next day."""
        if not self.enabled:
            return 0.0
        day = int(t_s // DAY_S)
        for d in (day, day - 1):
            if d < 0:
                continue
            start_s, end_s = self.session(d)
            if start_s <= t_s < end_s:
                return self.charge_power_w
        return 0.0
