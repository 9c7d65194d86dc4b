"""Every mapped register, read by a real pymodbus client over RTU (pty) and TCP,
matches the profile at that simulated instant; counters integrate the profile."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest
from hwsupport import client_for, decode, read_all_inputs

from hardware.emulators import EmulatedMeter, ManualClock
from hardware.profiles import SiteSample
from hardware.registers import MeterModel, load_model

REGMAP = Path(__file__).resolve().parents[2] / "firmware" / "meter" / "regmap.py"
F32 = dict(rel=2e-7, abs=1e-5)


def expected_inputs(model: MeterModel, s: SiteSample) -> dict[str, float]:
    """What each register should read for profile sample ``s`` (instantaneous values)."""
    per = {}
    va_sum = 0.0
    currents = []
    for i, (p, q, v) in enumerate(zip(s.phase_active_w, s.phase_reactive_var, s.phase_voltage_v), 1):
        va = math.hypot(p, q)
        va_sum += va
        currents.append(va / v)
        per.update({("voltage_v", i): v, ("current_a", i): va / v, ("active_power_w", i): p,
                    ("apparent_power_va", i): va, ("reactive_power_var", i): q,
                    ("power_factor", i): abs(p) / va, ("phase_angle_deg", i): math.degrees(math.atan2(q, p))})
    p, q = s.net_w, s.reactive_var
    per.update({("active_power_w", 0): p, ("reactive_power_var", 0): q, ("apparent_power_va", 0): va_sum,
                ("power_factor", 0): abs(p) / va_sum, ("phase_angle_deg", 0): math.degrees(math.atan2(q, p)),
                ("frequency_hz", 0): s.frequency_hz, ("sum_current_a", 0): sum(currents),
                ("average_current_a", 0): sum(currents) / len(currents),
                ("average_voltage_v", 0): sum(s.phase_voltage_v) / len(currents)})
    v = s.phase_voltage_v
    if len(v) == 3:
        ll = [math.sqrt(v[a] ** 2 + v[b] ** 2 + v[a] * v[b]) for a, b in ((0, 1), (1, 2), (2, 0))]
        per.update({("l1_l2_voltage_v", 0): ll[0], ("l2_l3_voltage_v", 0): ll[1],
                    ("l3_l1_voltage_v", 0): ll[2], ("average_line_voltage_v", 0): sum(ll) / 3})
    return {r.name: per[(r.quantity, r.phase)] for r in model.inputs if (r.quantity, r.phase) in per}


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
@pytest.mark.parametrize("model_name", ["sdm120", "sdm630"])
async def test_every_register_matches_profile(model_name, transport):
    model = load_model(model_name)
    t0 = 11 * 3600.0
    clock = ManualClock(t0)
    async with EmulatedMeter(model=model, transport=transport, unit_id=7, seed=11, clock=clock,
                             initial_import_kwh=1234.5, initial_export_kwh=321.0) as meter:
        client = await client_for(meter)
        try:
            got = await read_all_inputs(client, model, unit_id=7)
            want = expected_inputs(model, meter.site.sample(t0))
            assert set(got) == {r.name for r in model.inputs}
            for name, value in want.items():
                assert got[name] == pytest.approx(value, **F32), name
            assert got["import_energy_kwh"] == pytest.approx(1234.5)
            assert got["export_energy_kwh"] == pytest.approx(321.0)

            # Nine simulated hours later the counters hold the profile's energy.
            clock.advance(9 * 3600.0)
            later = await read_all_inputs(client, model, unit_id=7)
            energy = meter.site.expected_energy(t0, t0 + 9 * 3600.0)
            assert energy.export_wh > 1000 and energy.import_wh > 1000
            assert later["import_energy_kwh"] - 1234.5 == pytest.approx(energy.import_wh / 1000, rel=2e-3)
            assert later["export_energy_kwh"] - 321.0 == pytest.approx(energy.export_wh / 1000, rel=2e-3)
            assert later["total_energy_kwh"] == pytest.approx(later["import_energy_kwh"] + later["export_energy_kwh"], rel=1e-6)
            assert later["import_reactive_energy_kvarh"] == pytest.approx(energy.import_varh / 1000, rel=2e-3)
            if model_name == "sdm630":
                for ph in (1, 2, 3):
                    assert later[f"l{ph}_import_energy_kwh"] == pytest.approx(
                        energy.phase_import_wh[ph - 1] / 1000, rel=2e-3, abs=1e-3)
                    assert later[f"l{ph}_export_energy_kwh"] == pytest.approx(
                        energy.phase_export_wh[ph - 1] / 1000, rel=2e-3, abs=1e-3)
            for name, value in expected_inputs(model, meter.site.sample(t0 + 9 * 3600.0)).items():
                assert later[name] == pytest.approx(value, **F32), name

            # Holding registers: identity and serial settings.
            for reg in model.holdings:
                resp = await client.read_holding_registers(reg.address, count=reg.width, device_id=7)
                assert not resp.isError(), (reg.name, resp)
                value = decode(reg, resp.registers)
                expected = {"unit_id": 7, "baud_code": model.baud_codes[model.baud], "parity_stop_code": 0,
                            "serial_number": meter.state.serial_number, "meter_code": model.meter_code}
                assert value == expected[reg.quantity], reg.name
        finally:
            client.close()


@pytest.mark.parametrize("model_name", ["sdm120", "sdm630"])
async def test_firmware_block_is_one_request(model_name):
    """The generated regmap's single block read yields every product field."""
    regmap = runpy.run_path(str(REGMAP))["MODELS"][model_name]
    model = load_model(model_name)
    clock = ManualClock(13 * 3600.0)
    async with EmulatedMeter(model=model, transport="rtu", seed=2, clock=clock) as meter:
        client = await client_for(meter)
        try:
            resp = await client.read_input_registers(regmap["block_start"], count=regmap["block_count"],
                                                     device_id=regmap["unit_id"])
            assert not resp.isError(), resp
            fields = {f: decode(model.input(model.firmware_fields[f]), resp.registers[o:o + 2])
                      for f, o in regmap["fields"].items()}
            want = expected_inputs(model, meter.site.sample(13 * 3600.0))
            for field, reg_name in model.firmware_fields.items():
                if reg_name in want:
                    assert fields[field] == pytest.approx(want[reg_name], **F32), field
            assert fields["import_energy_kwh"] == 0.0 and fields["export_energy_kwh"] == 0.0
        finally:
            client.close()
