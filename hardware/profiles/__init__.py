"""Deterministic load profiles for emulated meters.

A profile maps simulated time (seconds since local midnight of day 0) to power. Every
random element (cloud cover, appliance use, EV arrival) is drawn from a
``random.Random`` seeded with ``(seed, day, purpose)``, so the same seed always yields
the same day and tests can compute expected energies exactly.

- :class:`SolarProfile`     rooftop PV: clear-sky bell between sunrise and sunset,
                            attenuated by seeded cloud cover.
- :class:`HouseholdProfile` base load plus morning and evening peaks and appliance noise.
- :class:`EvChargerProfile` one seeded charging session per evening at constant power.
- :class:`SiteProfile`      the meter's point of view: net of the three, split per phase,
                            with voltage and frequency; integrates expected energies.
"""

from hardware.profiles.ev import EvChargerProfile
from hardware.profiles.household import HouseholdProfile
from hardware.profiles.site import EnergyTotals, SiteProfile, SiteSample, prosumer_site
from hardware.profiles.solar import SolarProfile

__all__ = [
    "EnergyTotals",
    "EvChargerProfile",
    "HouseholdProfile",
    "SiteProfile",
    "SiteSample",
    "SolarProfile",
    "prosumer_site",
]
