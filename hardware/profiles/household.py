"""Household consumption with morning and evening peaks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardware.errors import ProfileError
from hardware.profiles.seeded import DAY_S, interpolated


def _bump(hour: float, centre_h: float, width_h: float) -> float:
    """Gaussian bump of height 1 around ``centre_h``."""
    return math.exp(-0.5 * ((hour - centre_h) / width_h) ** 2)


@dataclass(frozen=True)
class HouseholdProfile:
    """Active power drawn by the house (without the EV charger).

    ``base_w`` (fridge, standby) all day; a morning peak around ``morning_peak_h`` and a
    larger evening one around ``evening_peak_h``; seeded appliance noise (kettle, oven,
    washing machine) up to ``appliance_w`` that changes every ``appliance_slot_s``.
    Power factor ``power_factor`` (inductive) gives the reactive power.
    """

    base_w: float = 250.0
    morning_peak_w: float = 1_200.0
    morning_peak_h: float = 7.5
    evening_peak_w: float = 2_000.0
    evening_peak_h: float = 19.5
    appliance_w: float = 600.0
    power_factor: float = 0.95
    seed: int = 1
    appliance_slot_s: int = 300

    def __post_init__(self) -> None:
        for name in ("base_w", "morning_peak_w", "evening_peak_w", "appliance_w"):
            if getattr(self, name) < 0:
                raise ProfileError("bad_power", f"{name} must be >= 0")
        if not 0.5 <= self.power_factor <= 1.0:
            raise ProfileError("bad_power_factor", f"power_factor {self.power_factor}")

    def power_w(self, t_s: float) -> float:
        """House consumption at simulated time ``t_s``."""
        hour = (t_s % DAY_S) / 3600.0
        peaks = self.morning_peak_w * _bump(hour, self.morning_peak_h, 1.0)
        peaks += self.evening_peak_w * _bump(hour, self.evening_peak_h, 1.5)
        noise = interpolated(self.seed, "appliances", t_s, self.appliance_slot_s)
        return self.base_w + peaks + self.appliance_w * noise ** 3

    def reactive_var(self, t_s: float) -> float:
        """Inductive reactive power that goes with :meth:`power_w`."""
        return self.power_w(t_s) * math.tan(math.acos(self.power_factor))
