"""Injected faults are real on the wire: no answer, bad CRC, exception codes, and
meter-side counter faults, each observed by a real client."""

from __future__ import annotations

import struct

import pytest
from hwsupport import RawRtuPort, client_for, crc_ok, decode, rtu_frame
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusIOException

from hardware.emulators import EmulatedMeter, FaultKind, ManualClock
from hardware.errors import FaultError

READ_BLOCK = struct.pack(">HH", 0, 76)


async def test_rtu_frames_on_the_wire():
    """Raw bytes on the pty, checked with an independent CRC implementation."""
    async with EmulatedMeter(model="sdm120", unit_id=3, clock=ManualClock(12 * 3600.0)) as meter:
        port = RawRtuPort(meter.port)
        try:
            ok = await port.transact(rtu_frame(3, 4, READ_BLOCK))
            assert crc_ok(ok) and ok[:3] == bytes([3, 4, 152]) and len(ok) == 3 + 152 + 2

            # Exception responses are well-formed frames with a valid CRC.
            illegal = await port.transact(rtu_frame(3, 4, struct.pack(">HH", 0x0200, 2)))
            assert crc_ok(illegal) and illegal[:3] == bytes([3, 0x84, 0x02])
            too_many = await port.transact(rtu_frame(3, 4, struct.pack(">HH", 0, 126)))
            assert crc_ok(too_many) and too_many[:3] == bytes([3, 0x84, 0x03])
            coils = await port.transact(rtu_frame(3, 1, struct.pack(">HH", 0, 1)))
            assert crc_ok(coils) and coils[:3] == bytes([3, 0x81, 0x01])
            write = await port.transact(rtu_frame(3, 16, struct.pack(">HHBf", 0x14, 2, 4, 9.0)))
            assert crc_ok(write) and write[:3] == bytes([3, 0x90, 0x02])  # setup mode only
            # Functions an SDM does not implement: diagnostics, report id, device id.
            for fc, payload in ((8, b"\x00\x00\x12\x34"), (17, b""), (0x2B, b"\x0e\x01\x00")):
                answer = await port.transact(rtu_frame(3, fc, payload))
                assert crc_ok(answer) and answer[:3] == bytes([3, 0x80 | fc, 0x01]), hex(fc)

            # Another slave id, a broadcast, or a request with a bad CRC: silence.
            assert await port.transact(rtu_frame(4, 4, READ_BLOCK), wait_s=0.5) == b""
            assert await port.transact(rtu_frame(0, 4, READ_BLOCK), wait_s=0.5) == b""
            bad = bytearray(rtu_frame(3, 4, READ_BLOCK))
            bad[-1] ^= 0xFF
            assert await port.transact(bytes(bad), wait_s=0.5) == b""

            meter.inject("garble", count=1)
            garbled = await port.transact(rtu_frame(3, 4, READ_BLOCK))
            assert len(garbled) == len(ok) and garbled[:3] == ok[:3] and not crc_ok(garbled)

            meter.inject("timeout", count=1)
            assert await port.transact(rtu_frame(3, 4, READ_BLOCK), wait_s=0.6) == b""

            meter.inject("busy", count=1)
            busy = await port.transact(rtu_frame(3, 4, READ_BLOCK))
            assert crc_ok(busy) and busy[:3] == bytes([3, 0x84, 0x06])

            again = await port.transact(rtu_frame(3, 4, READ_BLOCK))
            assert again == ok  # faults used up; the frozen clock gives identical values
        finally:
            port.close()

        # A client that closes and reopens the port still reaches the meter.
        port = RawRtuPort(meter.port)
        try:
            assert crc_ok(await port.transact(rtu_frame(3, 4, READ_BLOCK)))
        finally:
            port.close()


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
async def test_pymodbus_client_sees_response_faults(transport):
    async with EmulatedMeter(model="sdm630", transport=transport, clock=ManualClock(9 * 3600.0)) as meter:
        client = await client_for(meter, timeout_s=0.5)
        try:
            async def read():
                return await client.read_input_registers(0, count=76, device_id=1)

            assert not (await read()).isError()
            for kind in ("timeout", "garble"):
                meter.inject(kind, count=2)
                for _ in range(2):
                    with pytest.raises(ModbusIOException):
                        await read()
                assert not (await read()).isError(), f"{kind} should be used up"
                assert meter.plan.applied[FaultKind(kind)] == 2

            meter.inject("busy")  # until cleared
            for _ in range(3):
                resp = await read()
                assert resp.isError() and resp.exception_code == 0x06
            meter.clear("busy")
            assert not (await read()).isError()

            other = 9
            if transport == "tcp":
                resp = await client.read_input_registers(0, count=2, device_id=other)
                assert resp.isError() and resp.exception_code == 0x0B
            else:
                with pytest.raises(ModbusIOException):
                    await client.read_input_registers(0, count=2, device_id=other)
        finally:
            client.close()


async def _counters(client, meter) -> dict[str, float]:
    model = meter.model
    resp = await client.read_input_registers(0x48, count=4, device_id=meter.unit_id)
    assert not resp.isError(), resp
    imp = decode(model.input("import_energy_kwh"), resp.registers[0:2])
    exp = decode(model.input("export_energy_kwh"), resp.registers[2:4])
    serial = await client.read_holding_registers(0xFC00, count=2, device_id=meter.unit_id)
    return {"import": imp, "export": exp, "serial": decode(model.holding("serial_number"), serial.registers)}


async def test_counter_faults_stuck_reset_replace():
    clock = ManualClock(10 * 3600.0)
    async with EmulatedMeter(model="sdm120", transport="tcp", seed=4, clock=clock,
                             initial_export_kwh=500.0) as meter:
        client = await client_for(meter)
        try:
            before = await _counters(client, meter)
            clock.advance(3600)
            moving = await _counters(client, meter)
            assert moving["export"] > before["export"] + 0.1

            meter.inject("stuck")
            clock.advance(3600)
            stuck = await _counters(client, meter)
            power = await client.read_input_registers(0x0C, count=2, device_id=1)
            assert stuck["export"] == moving["export"] and stuck["import"] == moving["import"]
            assert abs(decode(meter.model.input("active_power_w"), power.registers)) > 100
            meter.clear("stuck")
            clock.advance(1800)
            assert (await _counters(client, meter))["export"] > stuck["export"]

            meter.inject("counter_reset")
            reset = await _counters(client, meter)
            assert reset["export"] == 0.0 and reset["import"] == 0.0
            assert reset["serial"] == before["serial"]
            clock.advance(600)
            assert (await _counters(client, meter))["export"] > 0.0

            meter.inject("replace")
            replaced = await _counters(client, meter)
            assert replaced["serial"] != before["serial"]
            assert replaced["export"] == 0.0 and replaced["import"] == 0.0
        finally:
            client.close()


async def test_fault_requests_are_validated():
    meter = EmulatedMeter(model="sdm120", transport="tcp", clock=ManualClock())
    with pytest.raises(FaultError) as err:
        meter.inject("lightning")
    assert err.value.reason == "unknown_fault"
    with pytest.raises(FaultError) as err:
        meter.inject("timeout", count=0)
    assert err.value.reason == "bad_count"
    with pytest.raises(FaultError) as err:  # rejected before anything starts serving
        EmulatedMeter(model="sdm120", faults={"meteor": 1})
    assert err.value.reason == "unknown_fault"


async def test_faults_armed_at_start_apply_to_first_requests():
    async with EmulatedMeter(model="sdm120", transport="tcp", clock=ManualClock(0),
                             faults={"busy": 1, "stuck": None}) as meter:
        client = await client_for(meter)
        try:
            first = await client.read_input_registers(0, count=2, device_id=1)
            assert first.isError() and first.exception_code == 0x06
            assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
            assert meter.state.stuck
        finally:
            client.close()


async def test_strict_baud_meter_ignores_a_client_at_the_wrong_speed():
    async with EmulatedMeter(model="sdm120", strict_baud=True, wire_timing=False,
                             clock=ManualClock(0)) as meter:
        for baud, answers in ((19200, False), (9600, True), (2400, False)):
            client = AsyncModbusSerialClient(meter.port, baudrate=baud, timeout=0.4, retries=0)
            assert await client.connect()
            try:
                if answers:
                    assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
                else:
                    with pytest.raises(ModbusIOException):
                        await client.read_input_registers(0, count=2, device_id=1)
            finally:
                client.close()
