"""TLS to the broker: the full cycle over a verified TLS session (CA given as
PEM, as an operator would copy it), and a broker signed by another CA refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common import envelope as E
from hardware.emulators import EmulatedMeter
from tests.support.firmware import EnvelopeCollector, run_firmware, write_config
from tests.support.micropython import run_cases
from devservers.mosquitto import MosquittoBroker
from tests.support.tls import Pki

MP_DIR = Path(__file__).parent / "mp"
# The unix port's mbedtls allocates its session buffers from the MicroPython
# heap; a TLS session does not reliably fit next to the firmware in 64 KB, so
# this test runs with 96 KB (plain MQTT to the local broker is the 64 KB case).
TLS_HEAP = "96K"




async def test_full_cycle_over_verified_tls(
    fw_build: Path, tmp_path: Path, test_pki: Pki,
    mosquitto_factory: Callable[..., MosquittoBroker],
) -> None:
    broker = mosquitto_factory(tls=test_pki)
    collector = EnvelopeCollector(broker.host, broker.port, ca_cert=test_pki.ca_cert)
    try:
        async with EmulatedMeter(model="sdm120", seed=8, acceleration=600) as meter:
            write_config(tmp_path, meter_id="mtr-tls", host=broker.host, port=broker.port,
                         device=meter.port,
                         broker={"tls": True, "ca_file": str(test_pki.ca_cert)})
            result = (await run_firmware(fw_build, tmp_path, max_readings=2, heap=TLS_HEAP)).check()
        await collector.wait_for(2)
    finally:
        collector.close()
    pub = bytes.fromhex(next(ln for ln in result.stdout.splitlines()
                             if ln.startswith("key: public ")).split()[-1])
    envs = [E.parse_envelope(p) for p in collector.payloads()]
    for env in envs:
        E.verify(env, pub)
    assert [e.seq for e in envs] == [1, 2]


def test_broker_from_another_ca_is_refused(
    fw_build: Path, tmp_path: Path, test_pki: Pki,
    mosquitto_factory: Callable[..., MosquittoBroker],
) -> None:
    broker = mosquitto_factory(tls=test_pki)
    base = {"host": broker.host, "port": broker.port}
    out = run_cases("tls_connect", [
        {**base, "ca_file": str(test_pki.ca_cert)},
        {**base, "ca_file": str(test_pki.ca_der)},
        {**base, "ca_file": str(test_pki.other_ca_cert)},
    ], build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)
    assert out[0] == "ok" and out[1] == "ok"
    assert out[2].startswith("tls:") and "not correctly signed" in out[2]
