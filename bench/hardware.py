"""Emulated meter benchmark: request latency on RTU (pty) and TCP, start-up time,
physics speed, and how closely a simulated day's counters match the profile."""

from __future__ import annotations

import asyncio
import statistics
import time

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from hardware.emulators import EmulatedMeter, ManualClock
from hardware.emulators.state import MeterState
from hardware.profiles import prosumer_site
from hardware.registers import load_model

UNITS = {
    "hardware.rtu_start_ms": "ms",
    "hardware.rtu_block_read_9600_ms": "ms",
    "hardware.rtu_block_read_nowire_ms": "ms",
    "hardware.tcp_block_read_ms": "ms",
    "hardware.tcp_block_reads_per_s": "req/s",
    "hardware.physics_sim_days_per_wall_s": "days/s",
    "hardware.day_export_error_pct": "%",
    "hardware.day_import_error_pct": "%",
}
GOALS = {
    "hardware.rtu_block_read_9600_ms": "~197 ms: 172 bytes + gaps at 9600 baud",
    "hardware.day_export_error_pct": "< 1 %",
    "hardware.day_import_error_pct": "< 1 %",
}


async def _latency_ms(client, n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        resp = await client.read_input_registers(0, count=76, device_id=1)
        samples.append((time.perf_counter() - t) * 1000)
        assert not resp.isError(), resp
    return statistics.median(samples)


async def _rtu(wire_timing: bool, n: int) -> tuple[float, float]:
    t = time.perf_counter()
    async with EmulatedMeter(transport="rtu", clock=ManualClock(12 * 3600), wire_timing=wire_timing) as m:
        start_ms = (time.perf_counter() - t) * 1000
        client = AsyncModbusSerialClient(m.port, baudrate=9600, timeout=2, retries=0)
        await client.connect()
        try:
            return start_ms, await _latency_ms(client, n)
        finally:
            client.close()


async def _tcp(n: int) -> float:
    async with EmulatedMeter(transport="tcp", clock=ManualClock(12 * 3600)) as m:
        client = AsyncModbusTcpClient("127.0.0.1", port=m.tcp_port, timeout=2, retries=0)
        await client.connect()
        try:
            return await _latency_ms(client, n)
        finally:
            client.close()


async def _day(wall_s: float) -> tuple[float, float]:
    async with EmulatedMeter(transport="tcp", seed=3, acceleration=86400 / wall_s, stop_s=86400) as m:
        client = AsyncModbusTcpClient("127.0.0.1", port=m.tcp_port, timeout=2, retries=0)
        await client.connect()
        try:
            while m.clock.now_s() < 86400:
                await client.read_input_registers(0x48, count=4, device_id=1)
                await asyncio.sleep(0.1)
            resp = await client.read_input_registers(0x48, count=4, device_id=1)
        finally:
            client.close()
        imp, exp = client.convert_from_registers(resp.registers, client.DATATYPE.FLOAT32)
        want = m.site.expected_energy(0, 86400, step_s=2.0)
    return (abs(exp * 1000 - want.export_wh) / want.export_wh * 100,
            abs(imp * 1000 - want.import_wh) / want.import_wh * 100)


def _physics_days_per_s() -> float:
    clock = ManualClock(0)
    state = MeterState(load_model("sdm120"), prosumer_site(seed=1), clock, unit_id=1, serial_number=1)
    t = time.perf_counter()
    clock.set(86400)
    state.advance()
    return 1.0 / (time.perf_counter() - t)


def run() -> dict[str, float]:
    rtu_start_ms, rtu_ms = asyncio.run(_rtu(True, 5))
    _, rtu_fast_ms = asyncio.run(_rtu(False, 30))
    tcp_ms = asyncio.run(_tcp(200))
    exp_err, imp_err = asyncio.run(_day(4.0))
    return {
        "hardware.rtu_start_ms": round(rtu_start_ms, 1),
        "hardware.rtu_block_read_9600_ms": round(rtu_ms, 1),
        "hardware.rtu_block_read_nowire_ms": round(rtu_fast_ms, 2),
        "hardware.tcp_block_read_ms": round(tcp_ms, 3),
        "hardware.tcp_block_reads_per_s": round(1000 / tcp_ms),
        "hardware.physics_sim_days_per_wall_s": round(_physics_days_per_s(), 2),
        "hardware.day_export_error_pct": round(exp_err, 4),
        "hardware.day_import_error_pct": round(imp_err, 4),
    }
