"""Broker outage on the capped MicroPython interpreter: readings taken while
the broker is down wait on flash and are delivered exactly once, in order,
when it returns; an outage longer than the ring becomes one signed gap."""

from __future__ import annotations

import asyncio
from pathlib import Path

from common import envelope as E
from hardware.emulators import EmulatedMeter
from tests.support.firmware import EnvelopeCollector, firmware_script, start_firmware, write_config
from devservers.mosquitto import MosquittoBroker


def _pubkey(stdout: str) -> bytes:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("key: public "))
    return bytes.fromhex(line.split()[-1])


async def _run_with_outage(fw_build: Path, data_dir: Path, broker: MosquittoBroker,
                           collector: EnvelopeCollector, total: int, before: int,
                           outage_s: float, **cfg: object) -> str:
    async with EmulatedMeter(model="sdm630", seed=5, acceleration=600, start_s=12 * 3600) as meter:
        write_config(data_dir, meter_id="mtr-outage", host=broker.host, port=broker.port,
                     device=meter.port, model="sdm630", **cfg)
        proc = await start_firmware(fw_build, data_dir, firmware_script(total))
        try:
            await collector.wait_for(before, timeout_s=30)
            broker.stop()
            await asyncio.sleep(outage_s)
            broker.start()
            out, err = await asyncio.wait_for(proc.communicate(), 90)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    stdout = out.decode()
    assert proc.returncode == 0, stdout + err.decode()
    return stdout


async def test_outage_delivers_every_reading_once_in_order(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    collector = EnvelopeCollector(mosquitto.host, mosquitto.port)
    try:
        stdout = await _run_with_outage(fw_build, tmp_path, mosquitto, collector,
                                        total=9, before=2, outage_s=4.5)
        await collector.wait_for(9, timeout_s=20)
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive now
        payloads = collector.payloads()
    finally:
        collector.close()
    pub = _pubkey(stdout)
    envs = [E.parse_envelope(p) for p in payloads]
    for env in envs:
        E.verify(env, pub)
    assert [e.seq for e in envs] == list(range(1, 10))
    assert all(e.kind == "reading" for e in envs)
    assert "uplink: connect failed" in stdout  # the outage really was seen
    # The status LED went offline during the outage and back to ok.
    status = [ln for ln in stdout.splitlines() if ln.startswith("status: ")]
    assert status.index("status: offline") < len(status) - 1 - status[::-1].index("status: ok")
    # Readings taken during the outage kept their own timestamps.
    ts = [e.reading["ts"] for e in envs]
    assert ts == sorted(ts) and ts[-1] - ts[0] >= 7


async def test_outage_longer_than_ring_sends_one_gap(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    collector = EnvelopeCollector(mosquitto.host, mosquitto.port, client_id="gtx-test-gap")
    try:
        stdout = await _run_with_outage(fw_build, tmp_path, mosquitto, collector,
                                        total=14, before=1, outage_s=11.5, ring_slots=8)
        await asyncio.sleep(0.3)
        payloads = collector.payloads()
    finally:
        collector.close()
    pub = _pubkey(stdout)
    envs = [E.parse_envelope(p) for p in payloads]
    for env in envs:
        E.verify(env, pub)
    kinds = [(e.kind, e.seq) for e in envs]
    gaps = [e for e in envs if e.kind == "gap"]
    assert len(gaps) == 1, kinds
    gap = gaps[0].reading
    # Everything is accounted for exactly once: readings, then the gap standing
    # in for the overwritten ones, then the readings the ring still held.
    covered = []
    for e in envs:
        covered += (list(range(e.reading["from_seq"], e.reading["to_seq"] + 1))
                    if e.kind == "gap" else [e.seq])
    assert covered == list(range(1, 15)), kinds
    assert gap["to_seq"] == gap["seq"] and gap["clk"] == 1
    # ~11 readings were taken offline into 8 slots: the oldest were overwritten.
    assert gap["to_seq"] - gap["from_seq"] + 1 >= 2
    assert "uplink: gap %d..%d" % (gap["from_seq"], gap["to_seq"]) in stdout
