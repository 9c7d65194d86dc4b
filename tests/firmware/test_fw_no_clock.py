"""Without a valid clock the firmware marks readings (clk=0, ts=0) instead of
inventing a time, and keeps retrying the sync."""

from __future__ import annotations

from pathlib import Path

from common import envelope as E
from hardware.emulators import EmulatedMeter
from tests.support.firmware import EnvelopeCollector, run_firmware, write_config
from devservers.mosquitto import MosquittoBroker

MP_DIR = Path(__file__).parent / "mp"


async def test_unsynced_clock_marks_readings(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    collector = EnvelopeCollector(mosquitto.host, mosquitto.port)
    try:
        async with EmulatedMeter(model="sdm120", seed=1, acceleration=600) as meter:
            write_config(tmp_path, meter_id="mtr-noclk", host=mosquitto.host,
                         port=mosquitto.port, device=meter.port)
            script = f"import sys\nsys.path.append({str(MP_DIR)!r})\nimport no_clock\n"
            result = (await run_firmware(fw_build, tmp_path, 2, script=script)).check()
        await collector.wait_for(2)
    finally:
        collector.close()
    assert "pending after run 0" in result.stdout
    assert result.stdout.count("clock: NTP sync failed") == 1  # retried a minute later, not per loop
    envs = [E.parse_envelope(p) for p in collector.payloads()]
    assert [(e.seq, e.reading["clk"], e.reading["ts"]) for e in envs] == [(1, 0, 0), (2, 0, 0)]
