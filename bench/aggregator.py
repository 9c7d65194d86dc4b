"""Aggregator ingest benchmark: signed readings validated and durably stored per second.

Everything is real: an embedded PostgreSQL (fsync on), the aggregator running as its
own process (``python -m aggregator serve``), a mosquitto broker for the MQTT path.
Readings are signed beforehand (signing is the meters' cost, not the aggregator's);
each run measures from the first byte sent until the last reading is committed.

Metrics:
  ingest_http_batch_readings_per_s  HTTP ``submit-readings`` (ndjson, 1000 per request,
                                    2 concurrent clients on disjoint meters, 2 workers)
  ingest_mqtt_readings_per_s        broker -> aggregator (QoS 1, persistent
                                    session, manual acks after commit): the fleet
                                    publishes while the aggregator is offline, then the
                                    drain is timed from first to last stored reading
  ingest_readings_per_s             the better of the two transports (sustained ingest)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import paho.mqtt.client as paho

from aggregator.db.embedded import EmbeddedPostgres
from aggregator.db.migrate import migrate
from common.envelope import public_key_from_seed, reading_topic, sign_envelope

UNITS = {
    "ingest_readings_per_s": "readings/s",
    "ingest_http_batch_readings_per_s": "readings/s",
    "ingest_mqtt_readings_per_s": "readings/s",
}

N_METERS = int(os.environ.get("GTX_BENCH_METERS", "200"))
PER_METER = int(os.environ.get("GTX_BENCH_READINGS_PER_METER", "150"))
HTTP_BATCH = 1000
HTTP_WORKERS = int(os.environ.get("GTX_BENCH_HTTP_WORKERS", "2"))
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fleet(prefix: str) -> tuple[dict[str, bytes], list[list[tuple[str, bytes]]]]:
    """Keys per meter and, per meter, its signed readings in sequence order."""
    start = int(time.time()) - 6 * 86400
    keys: dict[str, bytes] = {}
    per_meter: list[list[tuple[str, bytes]]] = []
    for m in range(N_METERS):
        meter_id = f"{prefix}-{m:05d}"
        seed = hashlib.sha256(meter_id.encode()).digest()
        keys[meter_id] = public_key_from_seed(seed)
        readings = []
        for seq in range(1, PER_METER + 1):
            readings.append((meter_id, sign_envelope(seed, {
                "kind": "reading", "meter": meter_id, "seq": seq, "ts": start + seq * 300, "clk": 1,
                "int_s": 300, "imp_wh": 10_000 + seq * 40, "exp_wh": 50_000 + seq * 250,
                "v_dv": 2301, "i_ma": 4210, "p_w": -3000, "pf_milli": 991, "f_chz": 5001, "fw": "1.0.0",
            })))
        per_meter.append(readings)
    return keys, per_meter


def _interleave(per_meter: list[list[tuple[str, bytes]]]) -> list[tuple[str, bytes]]:
    """Round-robin across meters (how a fleet publishes), each meter in seq order."""
    return [per_meter[m][i] for i in range(PER_METER) for m in range(len(per_meter))]


async def _prepare_db(server: EmbeddedPostgres, name: str, keys: dict[str, bytes]) -> str:
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(server.dsn(name))
    try:
        await migrate(conn)
        owner = await conn.fetchval("INSERT INTO users (wallet, role) VALUES ('bench-wallet', 'prosumer') RETURNING id")
        await conn.copy_records_to_table(
            "meters", records=[(k, owner, v) for k, v in keys.items()],
            columns=("meter_id", "owner_id", "device_pubkey"),
        )
    finally:
        await conn.close()
    return server.dsn(name)


class _Aggregator:
    """``python -m aggregator serve`` in a child process, health-checked."""

    def __init__(self, dsn: str, env: dict[str, str], workers: int = 1) -> None:
        self.port = _free_port()
        full_env = {**os.environ, "GTX_DATABASE_URL": dsn, "GTX_LOG_LEVEL": "WARNING",
                    "GTX_INGEST_RATE_LIMIT_INTERVAL_S": "300", "PYTHONPATH": str(ROOT), **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, path: str = "/readyz", timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"aggregator exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
                try:
                    if (await c.get(self.url + path)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("aggregator not ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


async def _stored(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM readings"))
    finally:
        await conn.close()


async def _bench_http(server: EmbeddedPostgres) -> float:
    keys, per_meter = _fleet("h")
    dsn = await _prepare_db(server, "bench_http", keys)
    agg = _Aggregator(dsn, {}, workers=HTTP_WORKERS)
    try:
        await agg.ready()
        halves = [_interleave(per_meter[: N_METERS // 2]), _interleave(per_meter[N_METERS // 2 :])]

        async def stream(items: list[tuple[str, bytes]]) -> None:
            async with httpx.AsyncClient(base_url=agg.url, timeout=60) as c:
                for i in range(0, len(items), HTTP_BATCH):
                    body = b"\n".join(raw for _, raw in items[i : i + HTTP_BATCH])
                    resp = await c.post("/api/meters/submit-readings", content=body,
                                        headers={"content-type": "application/x-ndjson"})
                    resp.raise_for_status()
                    if resp.json()["rejected"]:
                        raise RuntimeError(f"bench readings rejected: {resp.json()['rejections'][:3]}")

        started = time.perf_counter()
        await asyncio.gather(*(stream(h) for h in halves))
        elapsed = time.perf_counter() - started
        total = N_METERS * PER_METER
        if await _stored(dsn) != total:
            raise RuntimeError("not every reading was stored")
        return total / elapsed
    finally:
        agg.stop()


def _publish(host: str, port: int, items: list[tuple[str, bytes]]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-fleet")
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [client.publish(reading_topic(meter_id), raw, qos=1) for meter_id, raw in items]
        for info in infos:
            info.wait_for_publish(timeout=120)
    finally:
        client.disconnect()
        client.loop_stop()


async def _bench_mqtt(server: EmbeddedPostgres, workdir: Path) -> float:
    sys.path.insert(0, str(ROOT))
    from tests.support.mosquitto import MosquittoBroker

    keys, per_meter = _fleet("q")
    dsn = await _prepare_db(server, "bench_mqtt", keys)
    broker = MosquittoBroker(workdir / "mosquitto")
    broker.start()
    agg_env = {"GTX_MQTT_ENABLED": "true", "GTX_MQTT_HOST": broker.host,
               "GTX_MQTT_PORT": str(broker.port), "GTX_MQTT_CLIENT_ID": "bench-agg"}
    agg = _Aggregator(dsn, agg_env)
    try:
        await agg.ready()  # readyz is 200 only once the consumer is subscribed
    finally:
        agg.stop()
    # The aggregator is offline; its persistent session makes the broker queue everything.
    items = _interleave(per_meter)
    total = len(items)
    await asyncio.to_thread(_publish, broker.host, broker.port, items)
    agg = _Aggregator(dsn, agg_env)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            # Sustained rate: from the first stored reading to the last.
            deadline = time.perf_counter() + 300
            first_count, first_t = 0, 0.0
            while (n := int(await conn.fetchval("SELECT count(*) FROM readings"))) < total:
                if n and not first_count:
                    first_count, first_t = n, time.perf_counter()
                if time.perf_counter() > deadline:
                    raise RuntimeError("MQTT ingest did not finish in 300 s")
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - first_t
        finally:
            await conn.close()
        return (total - first_count) / elapsed
    finally:
        agg.stop()
        broker.stop()


async def _run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gtx-bench-agg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        server.start()
        try:
            http = await _bench_http(server)
            mqtt = await _bench_mqtt(server, Path(tmp))
        finally:
            server.destroy()
    return {
        "ingest_readings_per_s": round(max(http, mqtt), 1),
        "ingest_http_batch_readings_per_s": round(http, 1),
        "ingest_mqtt_readings_per_s": round(mqtt, 1),
    }


def run() -> dict[str, float]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"aggregator.{key:40s} {value:>12,.1f} {UNITS[key]}")
