"""The Modbus master and the meter loop against the emulated SDM meter on a
pty, with the emulator's injected wire faults."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from common import envelope as E
from hardware.emulators import EmulatedMeter
from tests.support.firmware import EnvelopeCollector, run_firmware, write_config
from tests.support.micropython import FIRMWARE_HEAP, MICROPYTHON
from devservers.mosquitto import MosquittoBroker

MP_DIR = Path(__file__).parent / "mp"


async def _read_cases(fw_build: Path, tmp_path: Path, cases: list[dict]) -> list[dict]:
    import json

    path = tmp_path / "meter.cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    script = f"import sys\nsys.path.insert(0, {str(MP_DIR)!r})\nimport meter_read\n"
    proc = await asyncio.create_subprocess_exec(
        str(MICROPYTHON), "-X", f"heapsize={FIRMWARE_HEAP}", "-c", script, cwd=fw_build,
        env={"GTX_CASES": str(path)}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode() + err.decode()
    return [json.loads(ln[2:]) for ln in out.decode().splitlines() if ln.startswith("R ")]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("timeout", {"reason": "timeout", "code": 0}),
        ("garble", {"reason": "crc_mismatch", "code": 0}),
        ("busy", {"reason": "exception", "code": 6}),
    ],
)
async def test_master_reports_wire_faults_then_recovers(
    fw_build: Path, tmp_path: Path, fault: str, expected: dict
) -> None:
    async with EmulatedMeter(model="sdm120", seed=2) as meter:
        meter.inject(fault, count=1)
        case = {"device": meter.port, "unit": 1, "start": 0, "count": 76, "timeout_ms": 400}
        out = await _read_cases(fw_build, tmp_path, [case, case])
    assert out == [expected, {"bytes": 152}]


async def test_unanswered_unit_and_bad_address(fw_build: Path, tmp_path: Path) -> None:
    async with EmulatedMeter(model="sdm120", seed=2) as meter:
        base = {"device": meter.port, "timeout_ms": 300}
        out = await _read_cases(fw_build, tmp_path, [
            {**base, "unit": 9, "start": 0, "count": 2},  # nobody at unit 9 on the bus
            {**base, "unit": 1, "start": 0x7000, "count": 2},  # outside the register map
            {**base, "unit": 1, "start": 0, "count": 76},
        ])
    assert out == [{"reason": "timeout", "code": 0}, {"reason": "exception", "code": 2},
                   {"bytes": 152}]


async def test_failed_reads_invent_nothing(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    collector = EnvelopeCollector(mosquitto.host, mosquitto.port)
    try:
        async with EmulatedMeter(model="sdm120", seed=4, acceleration=600, start_s=10 * 3600) as meter:
            # Two intervals' worth of attempts (1 try + 1 retry each) time out.
            meter.inject("timeout", count=4)
            write_config(tmp_path, meter_id="mtr-fault", host=mosquitto.host, port=mosquitto.port,
                         device=meter.port, meter={"timeout_ms": 300})
            result = (await run_firmware(fw_build, tmp_path, max_readings=2)).check()
        await collector.wait_for(2)
    finally:
        collector.close()
    assert result.stdout.count("meter: read attempt") == 4
    assert "status: meter_error" in result.stdout
    envs = [E.parse_envelope(p) for p in collector.payloads()]
    assert [e.seq for e in envs] == [1, 2]  # no record for the failed intervals
