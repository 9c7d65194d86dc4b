"""Rooftop solar production by time of day and cloud cover."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardware.errors import ProfileError
from hardware.profiles.seeded import DAY_S, interpolated


@dataclass(frozen=True)
class SolarProfile:
    """PV inverter AC output.

    Clear sky follows ``sin(pi * x) ** 1.5`` over the daylight fraction ``x`` (a bell that
    is flat at noon and slow at dawn, close to measured PV curves). Clouds remove up to
    ``cloud_cover`` of it, varying every ``cloud_slot_s`` seconds with a seeded,
    linearly interpolated pattern: cover 0 is a clear day, 1 an overcast one that still
    keeps 20 % diffuse light.
    """

    peak_power_w: float = 5_000.0
    sunrise_h: float = 6.0
    sunset_h: float = 18.5
    cloud_cover: float = 0.3
    seed: int = 1
    cloud_slot_s: int = 600

    def __post_init__(self) -> None:
        if self.peak_power_w < 0:
            raise ProfileError("bad_peak_power", f"peak_power_w {self.peak_power_w} < 0")
        if not 0 <= self.sunrise_h < self.sunset_h <= 24:
            raise ProfileError("bad_daylight", f"sunrise {self.sunrise_h} / sunset {self.sunset_h}")
        if not 0.0 <= self.cloud_cover <= 1.0:
            raise ProfileError("bad_cloud_cover", f"cloud_cover {self.cloud_cover} not in [0, 1]")

    def clear_sky_w(self, t_s: float) -> float:
        """Output with no clouds at simulated time ``t_s``."""
        hour = (t_s % DAY_S) / 3600.0
        if hour <= self.sunrise_h or hour >= self.sunset_h:
            return 0.0
        x = (hour - self.sunrise_h) / (self.sunset_h - self.sunrise_h)
        return self.peak_power_w * math.sin(math.pi * x) ** 1.5

    def power_w(self, t_s: float) -> float:
        """AC output at simulated time ``t_s`` (seconds since midnight of day 0)."""
        clear = self.clear_sky_w(t_s)
        if clear == 0.0:
            return 0.0
        cloud = interpolated(self.seed, "clouds", t_s, self.cloud_slot_s)
        attenuation = self.cloud_cover * (0.8 * cloud)
        return clear * (1.0 - attenuation)
