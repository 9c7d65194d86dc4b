"""The physics of one emulated meter: integrate the site profile into energy counters.

The meter holds cumulative counters (kWh, kVArh, per phase and system) and advances
them lazily to the simulated time of each request, in sub-steps of at most
``max_step_s`` with the trapezoid rule. Because the counters are integrated from the
profile and not read from it, faults that stop or reset them behave like a real
meter: energy during a stuck period is lost, a reset starts from zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardware.emulators.clock import SimClock
from hardware.errors import EmulatorError
from hardware.profiles.site import SiteProfile, SiteSample
from hardware.registers.model import MeterModel


@dataclass
class Counters:
    """Cumulative energy registers, in the meter's units (kWh / kVArh)."""

    import_kwh: float = 0.0
    export_kwh: float = 0.0
    import_kvarh: float = 0.0
    export_kvarh: float = 0.0
    phase_import_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    phase_export_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def add(self, a: SiteSample, b: SiteSample) -> None:
        """Trapezoid step between two samples (split into import/export halves)."""
        hours = (b.t_s - a.t_s) / 3600.0
        imp, exp = _split(a.net_w, b.net_w)
        self.import_kwh += imp * hours / 1000.0
        self.export_kwh += exp * hours / 1000.0
        imp_q, exp_q = _split(a.reactive_var, b.reactive_var)
        self.import_kvarh += imp_q * hours / 1000.0
        self.export_kvarh += exp_q * hours / 1000.0
        for i, (pa, pb) in enumerate(zip(a.phase_active_w, b.phase_active_w)):
            imp, exp = _split(pa, pb)
            self.phase_import_kwh[i] += imp * hours / 1000.0
            self.phase_export_kwh[i] += exp * hours / 1000.0


def _split(a: float, b: float) -> tuple[float, float]:
    """Mean import and export power over a linear segment from ``a`` to ``b``.

    A segment that crosses zero is split at the crossing, so a step from +100 W to
    -100 W counts as half import and half export instead of cancelling to nothing.
    """
    if a >= 0 and b >= 0:
        return (a + b) / 2.0, 0.0
    if a <= 0 and b <= 0:
        return 0.0, -(a + b) / 2.0
    frac = a / (a - b)  # fraction of the step before the zero crossing
    if a > 0:
        return a * frac / 2.0, -b * (1 - frac) / 2.0
    return b * (1 - frac) / 2.0, -a * frac / 2.0


class MeterState:
    """Counters, identity and instantaneous values of one emulated meter."""

    def __init__(
        self,
        model: MeterModel,
        site: SiteProfile,
        clock: SimClock,
        *,
        unit_id: int,
        serial_number: int,
        initial_import_kwh: float = 0.0,
        initial_export_kwh: float = 0.0,
        max_step_s: float = 5.0,
    ) -> None:
        if site.phases != model.phases:
            raise EmulatorError(
                "phase_mismatch", f"{model.model} has {model.phases} phases, profile {site.phases}"
            )
        if max_step_s <= 0:
            raise EmulatorError("bad_step", "max_step_s must be > 0")
        self.model = model
        self.site = site
        self.clock = clock
        self.unit_id = unit_id
        self.serial_number = serial_number
        self.max_step_s = max_step_s
        self.counters = Counters(import_kwh=initial_import_kwh, export_kwh=initial_export_kwh)
        self.stuck = False
        self._last = site.sample(clock.now_s())

    @property
    def t_s(self) -> float:
        """Simulated time the counters have been integrated up to."""
        return self._last.t_s

    def rebase(self) -> None:
        """Start integrating from the clock's current time (when the meter goes live)."""
        self._last = self.site.sample(self.clock.now_s())

    def advance(self) -> SiteSample:
        """Integrate the counters up to the clock's current time; return that sample."""
        now_s = self.clock.now_s()
        if now_s <= self._last.t_s:
            return self._last
        steps = max(1, math.ceil((now_s - self._last.t_s) / self.max_step_s))
        dt = (now_s - self._last.t_s) / steps
        t0 = self._last.t_s
        prev = self._last
        for i in range(1, steps + 1):
            cur = self.site.sample(now_s if i == steps else t0 + i * dt)
            if not self.stuck:
                self.counters.add(prev, cur)
            prev = cur
        self._last = prev
        return prev

    def reset_counters(self) -> None:
        """What the meter's 'reset energy' menu does: every energy register to zero."""
        self.advance()
        self.counters = Counters()

    def replace(self, serial_number: int) -> None:
        """A new meter in the same place: new serial, fresh counters, faults gone."""
        self.advance()
        self.serial_number = serial_number
        self.counters = Counters()
        self.stuck = False

    def input_values(self) -> dict[tuple[str, int], float]:
        """Every input quantity at the current time, keyed by (quantity, phase)."""
        s = self.advance()
        c = self.counters
        values: dict[tuple[str, int], float] = {}
        currents = []
        for i, (p, q, v) in enumerate(zip(s.phase_active_w, s.phase_reactive_var, s.phase_voltage_v)):
            ph = i + 1
            va = math.hypot(p, q)
            current = va / v
            currents.append(current)
            values[("voltage_v", ph)] = v
            values[("current_a", ph)] = current
            values[("active_power_w", ph)] = p
            values[("apparent_power_va", ph)] = va
            values[("reactive_power_var", ph)] = q
            values[("power_factor", ph)] = abs(p) / va if va else 1.0
            values[("phase_angle_deg", ph)] = math.degrees(math.atan2(q, p)) if va else 0.0
            values[("import_energy_kwh", ph)] = c.phase_import_kwh[i]
            values[("export_energy_kwh", ph)] = c.phase_export_kwh[i]
        p, q = s.net_w, s.reactive_var
        va = sum(values[("apparent_power_va", i + 1)] for i in range(len(currents)))
        volts = s.phase_voltage_v
        values.update({
            ("active_power_w", 0): p,
            ("apparent_power_va", 0): va,
            ("reactive_power_var", 0): q,
            ("power_factor", 0): abs(p) / va if va else 1.0,
            ("phase_angle_deg", 0): math.degrees(math.atan2(q, p)) if va else 0.0,
            ("frequency_hz", 0): s.frequency_hz,
            ("import_energy_kwh", 0): c.import_kwh,
            ("export_energy_kwh", 0): c.export_kwh,
            ("import_reactive_energy_kvarh", 0): c.import_kvarh,
            ("export_reactive_energy_kvarh", 0): c.export_kvarh,
            ("total_energy_kwh", 0): c.import_kwh + c.export_kwh,
            ("total_reactive_energy_kvarh", 0): c.import_kvarh + c.export_kvarh,
            ("average_voltage_v", 0): sum(volts) / len(volts),
            ("average_current_a", 0): sum(currents) / len(currents),
            ("sum_current_a", 0): sum(currents),
        })
        if len(volts) == 3:
            # Phases 120 degrees apart: |Va - Vb| = sqrt(Va^2 + Vb^2 + Va*Vb).
            pairs = {"l1_l2_voltage_v": (0, 1), "l2_l3_voltage_v": (1, 2), "l3_l1_voltage_v": (2, 0)}
            for name, (a, b) in pairs.items():
                values[(name, 0)] = math.sqrt(volts[a] ** 2 + volts[b] ** 2 + volts[a] * volts[b])
            values[("average_line_voltage_v", 0)] = sum(values[(n, 0)] for n in pairs) / 3.0
        return values

    def holding_values(self) -> dict[str, float | int]:
        """Configuration and identity registers."""
        return {
            "parity_stop_code": {"N": 0, "E": 1, "O": 2}[self.model.parity],
            "unit_id": self.unit_id,
            "baud_code": self.model.baud_codes[self.model.baud],
            "serial_number": self.serial_number,
            "meter_code": self.model.meter_code,
        }
