"""Meter physics: counters integrate the profile whatever the polling pattern."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.emulators import ManualClock
from hardware.emulators.state import MeterState, _split
from hardware.errors import EmulatorError
from hardware.profiles import prosumer_site
from hardware.registers import load_model

power = st.floats(min_value=-20_000, max_value=20_000, allow_nan=False)


@settings(database=None)
@given(power, power)
def test_split_conserves_net_energy(a, b):
    imp, exp = _split(a, b)
    assert imp >= 0 and exp >= 0
    assert imp - exp == pytest.approx((a + b) / 2, abs=1e-6)
    if a >= 0 and b >= 0:
        assert exp == 0
    if a <= 0 and b <= 0:
        assert imp == 0


@settings(max_examples=40, deadline=None, database=None)
@given(
    seed=st.integers(min_value=0, max_value=1000),
    start_h=st.floats(min_value=0, max_value=20),
    gaps=st.lists(st.floats(min_value=0.5, max_value=1800), min_size=1, max_size=40),
    phases=st.sampled_from([1, 3]),
)
def test_counters_match_profile_for_any_polling(seed, start_h, gaps, phases):
    model = load_model("sdm120" if phases == 1 else "sdm630")
    site = prosumer_site(seed=seed, phases=phases)
    clock = ManualClock(start_h * 3600)
    state = MeterState(model, site, clock, unit_id=1, serial_number=1)
    for gap in gaps:
        clock.advance(gap)
        state.input_values()
    want = site.expected_energy(start_h * 3600, clock.now_s(), step_s=1.0)
    got = state.counters
    # Trapezoid at <= 5 s vs midpoint at 1 s agree to well under 1 %. The absolute
    # slack covers the EV switching inside one 5 s step (2 edges x 11 kW x 2.5 s).
    edge_wh = 2 * 11_000 * 2.5 / 3600
    assert got.import_kwh * 1000 == pytest.approx(want.import_wh, rel=5e-3, abs=edge_wh)
    assert got.export_kwh * 1000 == pytest.approx(want.export_wh, rel=5e-3, abs=edge_wh)
    for i in range(phases):
        assert got.phase_import_kwh[i] * 1000 == pytest.approx(want.phase_import_wh[i], rel=5e-3, abs=edge_wh)


def test_model_and_profile_phases_must_agree():
    with pytest.raises(EmulatorError) as err:
        MeterState(load_model("sdm630"), prosumer_site(phases=1), ManualClock(), unit_id=1, serial_number=1)
    assert err.value.reason == "phase_mismatch"


def test_clock_never_runs_backwards():
    clock = ManualClock(100)
    with pytest.raises(EmulatorError) as err:
        clock.set(50)
    assert err.value.reason == "clock_backwards"
