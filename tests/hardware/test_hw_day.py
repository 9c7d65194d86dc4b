"""A whole simulated day in seconds: exported energy integrates to the profile's kWh."""

from __future__ import annotations

import asyncio
import time

import pytest
from hwsupport import client_for, decode

from hardware.emulators import EmulatedMeter
from hardware.registers import load_model

DAY_S = 86_400.0
WALL_DAY_S = 8.0


async def _run_day(model_name: str, transport: str, seed: int) -> None:
    model = load_model(model_name)
    block = model.firmware_block
    regs = {f: model.input(r) for f, r in model.firmware_fields.items()}
    async with EmulatedMeter(model=model, transport=transport, seed=seed,
                             acceleration=DAY_S / WALL_DAY_S, start_s=0.0, stop_s=DAY_S) as meter:
        client = await client_for(meter, timeout_s=2.0)
        readings = []
        try:
            deadline = time.monotonic() + WALL_DAY_S + 0.5
            while True:
                resp = await client.read_input_registers(block.start, count=block.count, device_id=meter.unit_id)
                assert not resp.isError(), resp
                readings.append({f: decode(r, resp.registers[r.address - block.start:r.end - block.start])
                                 for f, r in regs.items()})
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            client.close()
        assert meter.clock.now_s() == DAY_S
        expected = meter.site.expected_energy(0.0, DAY_S, step_s=2.0)

    assert len(readings) >= 10
    for prev, cur in zip(readings, readings[1:]):
        assert cur["export_energy_kwh"] >= prev["export_energy_kwh"]
        assert cur["import_energy_kwh"] >= prev["import_energy_kwh"]
    powers = [r["active_power_w"] for r in readings]
    assert min(powers) < -1000 and max(powers) > 1000  # exported at noon, imported in the evening
    final = readings[-1]
    assert expected.export_wh > 5_000
    assert final["export_energy_kwh"] == pytest.approx(expected.export_wh / 1000, rel=0.01)
    assert final["import_energy_kwh"] == pytest.approx(expected.import_wh / 1000, rel=0.01)


async def test_prosumer_day_exports_expected_kwh():
    """SDM120 over RTU and SDM630 over TCP run the same day side by side."""
    await asyncio.gather(_run_day("sdm120", "rtu", seed=21), _run_day("sdm630", "tcp", seed=22))
