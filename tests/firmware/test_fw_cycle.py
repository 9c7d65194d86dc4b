"""Full cycle on the capped MicroPython interpreter: an emulated SDM meter on a
pty, a real mosquitto, the compiled firmware -- read, sign, publish -- and the
published signatures verify with PyNaCl."""

from __future__ import annotations

from pathlib import Path

import nacl.signing

from common import envelope as E
from hardware.emulators import EmulatedMeter
from tests.support.firmware import EnvelopeCollector, run_firmware, write_config
from devservers.mosquitto import MosquittoBroker


def _pubkey(stdout: str) -> bytes:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("key: public "))
    return bytes.fromhex(line.split()[-1])


async def test_read_sign_publish_verifies_with_pynacl(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    collector = EnvelopeCollector(mosquitto.host, mosquitto.port)
    try:
        async with EmulatedMeter(model="sdm120", seed=3, acceleration=600, start_s=11 * 3600) as meter:
            write_config(tmp_path, meter_id="mtr-cycle-1", host=mosquitto.host,
                         port=mosquitto.port, device=meter.port)
            result = (await run_firmware(fw_build, tmp_path, max_readings=3)).check()
            await collector.wait_for(3)
            true_import_wh = meter.state.counters.import_kwh * 1000
    finally:
        collector.close()
    pub = _pubkey(result.stdout)
    seqs = []
    for raw in collector.payloads():
        env = E.parse_envelope(raw)
        nacl.signing.VerifyKey(pub).verify(env.payload_bytes, env.signature)
        E.verify(env, pub)
        assert env.meter == "mtr-cycle-1" and env.kind == "reading"
        r = env.reading
        assert r["clk"] == 1 and r["ts"] > 1_700_000_000 and r["int_s"] == 1
        assert 2000 <= r["v_dv"] <= 2600 and 4900 <= r["f_chz"] <= 5100
        assert r["imp_wh"] <= true_import_wh + 1
        seqs.append(env.seq)
    assert seqs == [1, 2, 3]
