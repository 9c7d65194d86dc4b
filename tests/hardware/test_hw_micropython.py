"""The pty is usable from the real MicroPython interpreter (termios raw + poll), with
the generated regmap, under an ESP32-sized heap, and survives the client reopening it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hardware.emulators import EmulatedMeter, ManualClock

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = REPO / ".venv" / "bin" / "micropython"
SCRIPT = Path(__file__).with_name("mp_read_block.py")


async def _micropython_read(port: str, model: str) -> dict[str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(MICROPYTHON), "-X", "heapsize=64K", str(SCRIPT), port, model,
        env={"MICROPYPATH": str(REPO / "firmware" / "meter")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, out.decode() + err.decode()
    words = out.decode().split()
    assert words[0] == "crc_ok", out.decode()
    return dict(w.split("=", 1) for w in words[1:])


@pytest.mark.parametrize("model", ["sdm120", "sdm630"])
async def test_micropython_reads_firmware_block_twice(model):
    t_s = 12.5 * 3600
    async with EmulatedMeter(model=model, seed=5, clock=ManualClock(t_s)) as meter:
        first = await _micropython_read(meter.port, model)
        second = await _micropython_read(meter.port, model)  # the port survives a close
        sample = meter.site.sample(t_s)
    assert first == second
    assert float(first["active_power_w"]) == pytest.approx(sample.net_w, rel=1e-6)
    assert float(first["voltage_v"]) == pytest.approx(sample.phase_voltage_v[0], rel=1e-6)
    assert float(first["frequency_hz"]) == pytest.approx(sample.frequency_hz, rel=1e-6)
