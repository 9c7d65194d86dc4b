"""Several meters on one RS-485 line (or behind one TCP gateway): only the addressed
unit answers, each with its own profile and its own faults."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hwsupport import client_for, decode
from pymodbus.exceptions import ModbusIOException

from hardware.emulators import EmulatedMeter, ManualClock, MeterBus
from hardware.errors import EmulatorError
from hardware.registers import load_model


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
async def test_bus_answers_per_unit_with_per_unit_faults(transport):
    clock = ManualClock(12 * 3600.0)
    meters = [EmulatedMeter(model="sdm120", unit_id=u, seed=u, clock=clock) for u in (1, 2, 5)]
    async with MeterBus(meters, transport=transport) as bus:
        client = await client_for(bus, timeout_s=0.5)
        try:
            power = {}
            for m in meters:
                resp = await client.read_input_registers(0x0C, count=2, device_id=m.unit_id)
                assert not resp.isError(), resp
                power[m.unit_id] = decode(m.model.input("active_power_w"), resp.registers)
                assert power[m.unit_id] == pytest.approx(m.site.sample(12 * 3600.0).net_w, rel=1e-6)
            assert len(set(power.values())) == 3  # three different houses

            meters[1].inject("timeout")
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0x0C, count=2, device_id=2)
            assert not (await client.read_input_registers(0x0C, count=2, device_id=5)).isError()
            meters[1].clear()
            assert not (await client.read_input_registers(0x0C, count=2, device_id=2)).isError()

            if transport == "rtu":
                with pytest.raises(ModbusIOException):  # nobody at unit 3 on the bus
                    await client.read_input_registers(0x0C, count=2, device_id=3)
            else:
                resp = await client.read_input_registers(0x0C, count=2, device_id=3)
                assert resp.isError() and resp.exception_code == 0x0B
        finally:
            client.close()


def test_bus_rejects_duplicate_ids_and_mixed_speeds():
    with pytest.raises(EmulatorError) as err:
        MeterBus([EmulatedMeter(unit_id=1), EmulatedMeter(unit_id=1)])
    assert err.value.reason == "duplicate_unit_id"
    fast = replace(load_model("sdm630"), baud=19200)
    with pytest.raises(EmulatorError) as err:
        MeterBus([EmulatedMeter(model="sdm630", unit_id=1), EmulatedMeter(model=fast, unit_id=2)])
    assert err.value.reason == "bus_mismatch"
