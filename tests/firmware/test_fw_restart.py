"""The whole firmware killed at random moments and restarted, as a power cut
would do to a meter: same key after every restart, the sequence continues,
and the broker ends up with every reading -- no gap, nothing reordered
(at-least-once: a reading whose acknowledgement was not yet on flash may
arrive twice, with identical bytes)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from common import envelope as E
from hardware.emulators import EmulatedMeter
from tests.support.firmware import EnvelopeCollector, firmware_script, start_firmware, write_config
from devservers.mosquitto import MosquittoBroker

KILLS = 4


async def test_killed_and_restarted_firmware_loses_nothing(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    rnd = random.Random(99)
    collector = EnvelopeCollector(mosquitto.host, mosquitto.port)
    keys = set()
    try:
        async with EmulatedMeter(model="sdm120", seed=6, acceleration=600, start_s=9 * 3600) as meter:
            write_config(tmp_path, meter_id="mtr-restart", host=mosquitto.host,
                         port=mosquitto.port, device=meter.port)
            for _ in range(KILLS):
                proc = await start_firmware(fw_build, tmp_path, firmware_script(0))
                await asyncio.sleep(rnd.uniform(1.2, 2.6))
                proc.kill()
                out, _ = await proc.communicate()
                keys.update(ln.split()[-1] for ln in out.decode().splitlines()
                            if ln.startswith("key: public "))
            # Last boot: take two more readings and drain everything.
            proc = await start_firmware(fw_build, tmp_path, firmware_script(2))
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, out.decode() + err.decode()
            keys.update(ln.split()[-1] for ln in out.decode().splitlines()
                        if ln.startswith("key: public "))
        await asyncio.sleep(0.5)
        payloads = collector.payloads()
    finally:
        collector.close()
    assert len(keys) == 1  # generated once, reloaded after every cut
    pub = bytes.fromhex(keys.pop())
    first_bytes: dict[int, bytes] = {}
    seqs = []
    for raw in payloads:
        env = E.parse_envelope(raw)
        E.verify(env, pub)
        assert env.kind == "reading"
        # A re-sent reading is byte-identical to its first delivery.
        assert first_bytes.setdefault(env.seq, raw) == raw
        seqs.append(env.seq)
    distinct = sorted(set(seqs))
    assert distinct == list(range(1, distinct[-1] + 1))  # no gap
    assert distinct[-1] >= 4  # readings were taken (and cut) across the restarts
    # In order: a duplicate only ever repeats the newest seq delivered so far.
    newest = 0
    for seq in seqs:
        assert seq in (newest, newest + 1), seqs
        newest = max(newest, seq)
