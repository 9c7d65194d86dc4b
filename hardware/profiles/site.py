"""The meter's point of view: net power of a site, per phase, with grid conditions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardware.errors import ProfileError
from hardware.profiles.ev import EvChargerProfile
from hardware.profiles.household import HouseholdProfile
from hardware.profiles.seeded import interpolated
from hardware.profiles.solar import SolarProfile

#: How the house load spreads over L1..L3 on a three-phase connection (unbalanced,
#: as real houses are). Solar inverter and EV charger are three-phase and balanced.
HOUSE_PHASE_SPLIT = (0.5, 0.3, 0.2)


@dataclass(frozen=True)
class SiteSample:
    """Instantaneous site state at one simulated time; per-phase tuples have ``phases`` items."""

    t_s: float
    solar_w: float
    house_w: float
    ev_w: float
    #: + import from the grid / - export, per phase
    phase_active_w: tuple[float, ...]
    phase_reactive_var: tuple[float, ...]
    phase_voltage_v: tuple[float, ...]
    frequency_hz: float

    @property
    def net_w(self) -> float:
        """System active power at the meter, + import / - export."""
        return sum(self.phase_active_w)

    @property
    def reactive_var(self) -> float:
        """System reactive power, + inductive."""
        return sum(self.phase_reactive_var)


@dataclass
class EnergyTotals:
    """Energy that crossed the meter between two times, in Wh (and VArh)."""

    import_wh: float = 0.0
    export_wh: float = 0.0
    import_varh: float = 0.0
    export_varh: float = 0.0
    phase_import_wh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    phase_export_wh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def add(self, sample: SiteSample, dt_s: float) -> None:
        """Accumulate ``sample`` held for ``dt_s`` seconds."""
        hours = dt_s / 3600.0
        net = sample.net_w
        if net > 0:
            self.import_wh += net * hours
        else:
            self.export_wh -= net * hours
        q = sample.reactive_var
        if q > 0:
            self.import_varh += q * hours
        else:
            self.export_varh -= q * hours
        for i, p in enumerate(sample.phase_active_w):
            if p > 0:
                self.phase_import_wh[i] += p * hours
            else:
                self.phase_export_wh[i] -= p * hours


@dataclass(frozen=True)
class SiteProfile:
    """Solar + household + EV behind one meter with ``phases`` (1 or 3) phases.

    Voltage is ``nominal_voltage_v`` with seeded +-2 V wander and a rise of
    ``voltage_rise_v_per_kw`` per kW exported on that phase (the feeder's impedance);
    frequency wanders +-0.03 Hz around 50 Hz.
    """

    solar: SolarProfile = SolarProfile()
    house: HouseholdProfile = HouseholdProfile()
    ev: EvChargerProfile = EvChargerProfile()
    phases: int = 1
    nominal_voltage_v: float = 230.0
    voltage_rise_v_per_kw: float = 0.6
    nominal_frequency_hz: float = 50.0
    seed: int = 1

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ProfileError("bad_phases", f"phases must be 1 or 3, got {self.phases}")

    def sample(self, t_s: float) -> SiteSample:
        """Site state at simulated time ``t_s`` (pure: same input, same output)."""
        solar = self.solar.power_w(t_s)
        house = self.house.power_w(t_s)
        house_q = self.house.reactive_var(t_s)
        ev = self.ev.power_w(t_s)
        ev_q = ev * math.tan(math.acos(self.ev.power_factor))
        if self.phases == 1:
            split = (1.0,)
            sym = (1.0,)
        else:
            split = HOUSE_PHASE_SPLIT
            sym = (1 / 3, 1 / 3, 1 / 3)
        active = tuple(house * h + (ev - solar) * s for h, s in zip(split, sym))
        reactive = tuple(house_q * h + ev_q * s for h, s in zip(split, sym))
        voltage = tuple(
            self.nominal_voltage_v
            + 4.0 * (interpolated(self.seed, f"voltage:L{i + 1}", t_s, 60) - 0.5)
            - self.voltage_rise_v_per_kw * p / 1000.0
            for i, p in enumerate(active)
        )
        freq = self.nominal_frequency_hz + 0.06 * (interpolated(self.seed, "frequency", t_s, 60) - 0.5)
        return SiteSample(t_s, solar, house, ev, active, reactive, voltage, freq)

    def expected_energy(self, start_s: float, end_s: float, step_s: float = 1.0) -> EnergyTotals:
        """Energy through the meter over [start_s, end_s], midpoint rule at ``step_s``.

        This is the reference the emulated meter's counters are checked against; it is
        deliberately a different (finer) integration than the emulator's own.
        """
        totals = EnergyTotals()
        t = start_s
        while t < end_s:
            dt = min(step_s, end_s - t)
            totals.add(self.sample(t + dt / 2.0), dt)
            t += dt
        return totals


def prosumer_site(
    seed: int = 1,
    phases: int = 1,
    cloud_cover: float = 0.3,
    ev: bool = True,
    peak_pv_w: float | None = None,
) -> SiteProfile:
    """A typical prosumer: 5 kWp (1-phase) or 10 kWp (3-phase) PV, a family house, an EV.

    ``peak_pv_w`` overrides the PV size (0 makes a plain consumer).
    """
    if peak_pv_w is None:
        peak_pv_w = 5_000.0 * (1 if phases == 1 else 2)
    return SiteProfile(
        solar=SolarProfile(peak_power_w=peak_pv_w, cloud_cover=cloud_cover, seed=seed),
        house=HouseholdProfile(seed=seed),
        ev=EvChargerProfile(charge_power_w=7_400.0 if phases == 1 else 11_000.0, enabled=ev, seed=seed),
        phases=phases,
        seed=seed,
    )
