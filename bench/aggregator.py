"""Aggregator benchmark: sustained ingest, and how fast a reading becomes GRID.

Everything is real: an embedded PostgreSQL (fsync on), the aggregator running as its
own process (``python -m aggregator serve``), a mosquitto broker for the MQTT path, and
for minting the programs in LiteSVM behind JSON-RPC (``python -m tools.localnet``, its
own process). Readings are signed beforehand (signing is the meters' cost, not the
aggregator's); each ingest run measures from the first byte sent until the last reading
is committed.

Metrics (JSON keys prefixed ``aggregator.``):
  ingest_http_batch_readings_per_s  HTTP ``submit-readings`` (ndjson, 1000 per request,
                                    2 concurrent clients on disjoint meters, 2 workers)
  ingest_mqtt_readings_per_s        broker -> aggregator (QoS 1, persistent
                                    session, manual acks after commit; the consumer's
                                    default flow control, see MQTT_TUNING): the fleet
                                    publishes while the aggregator is offline, then the
                                    drain is timed from first to last stored reading
  ingest_readings_per_s             the better of the two transports (sustained ingest)
  ingest_http_ack_p95_s             p95 of the batch requests' response time during the
                                    HTTP flood (the acknowledgement of stored readings)
  ingest_mqtt_ack_p95_s             p95 of publish -> stored while the fleet publishes
                                    at a paced MQTT_FLOOD_RATE with the aggregator online
  verify_ceiling_readings_per_s     the machine's single-verify ceiling, measured in the
                                    same run: PyNaCl one-by-one verification of the same
                                    envelopes on all cores (2 threads; libsodium releases
                                    the GIL) and nothing else
  ingest_mqtt_ratio / _http_ratio   ingest rate / that ceiling (validated + stored vs
                                    verify alone)
  envelope backend: GTX_ENVELOPE_BACKEND (native by default; reference = PyNaCl)
  mint_latency_p50_s / _p95_s       reading -> tokens: from the reading's HTTP POST to the
                                    commit that records its mint transaction as confirmed;
                                    a fleet of meters posting one reading each, paced
                                    (event-driven minter, no polling)
  mint_readings_per_s               readings minted per second during that run
  mint_late_sent / _late_accepted   in that run every 10th reading of each meter is sent
                                    before its predecessor (a gateway backlog, concurrent
                                    HTTP); late_accepted counts readings stored after a
                                    later reading of their meter, all of them minted once
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import paho.mqtt.client as paho
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, Registry
from aggregator.chain.backend import RpcBackend
from aggregator.chain.programs import localnet_deployer
from aggregator.db.embedded import EmbeddedPostgres
from aggregator.db.migrate import migrate
from common.envelope import parse_envelope, public_key_from_seed, reading_topic, sign_envelope, verify_batch
from devservers import AggregatorProcess, LocalnetProcess, scratch_postgres
from devservers.mosquitto import MosquittoBroker

UNITS = {
    "aggregator.ingest_readings_per_s": "readings/s",
    "aggregator.ingest_http_batch_readings_per_s": "readings/s",
    "aggregator.ingest_mqtt_readings_per_s": "readings/s",
    "aggregator.ingest_http_ack_p95_s": "s",
    "aggregator.ingest_mqtt_ack_p95_s": "s",
    "aggregator.verify_ceiling_readings_per_s": "readings/s",
    "aggregator.ingest_mqtt_ratio": "x ceiling",
    "aggregator.ingest_http_ratio": "x ceiling",
    "aggregator.mint_latency_p50_s": "s",
    "aggregator.mint_latency_p95_s": "s",
    "aggregator.mint_readings_per_s": "readings/s",
    "aggregator.mint_late_sent": "readings",
    "aggregator.mint_late_accepted": "readings",
}
GOALS = {
    "aggregator.ingest_readings_per_s": ">= 20,000 (seed: 1,000)",
    "aggregator.ingest_mqtt_ratio": ">= 0.5",
    "aggregator.verify_ceiling_readings_per_s": "2-core PyNaCl verify, same run",
    "aggregator.mint_latency_p95_s": "<= 2 s (seed: < 5 min)",
}

N_METERS = int(os.environ.get("GTX_BENCH_METERS", "200"))
PER_METER = int(os.environ.get("GTX_BENCH_READINGS_PER_METER", "150"))
HTTP_BATCH = 1000
HTTP_WORKERS = int(os.environ.get("GTX_BENCH_HTTP_WORKERS", "2"))
MINT_METERS = int(os.environ.get("GTX_BENCH_MINT_METERS", "100"))
MINT_READINGS_PER_METER = int(os.environ.get("GTX_BENCH_MINT_READINGS_PER_METER", "20"))
MINT_RATE = float(os.environ.get("GTX_BENCH_MINT_RATE", "100"))  # readings/s offered by the fleet
WITH_MINT = os.environ.get("GTX_BENCH_AGG_MINT", "1") != "0"  # 0: ingest rows only
MQTT_FLOOD_RATE = float(os.environ.get("GTX_BENCH_MQTT_FLOOD_RATE", "20000"))  # readings/s offered
# Overrides of the consumer's flow control (MqttSettings defaults: receive maximum 65535,
# 5000 readings per batch); empty means the defaults, as an operator runs them.
MQTT_TUNING = {k: v for k, v in {
    "GTX_MQTT_RECEIVE_MAXIMUM": os.environ.get("GTX_BENCH_MQTT_RECEIVE_MAXIMUM", ""),
    "GTX_MQTT_BATCH_MAX_READINGS": os.environ.get("GTX_BENCH_MQTT_BATCH", "")}.items() if v}
ROOT = Path(__file__).resolve().parent.parent


def _fleet(prefix: str, meters: int = N_METERS, per_meter_n: int = PER_METER,
           ) -> tuple[dict[str, bytes], list[list[tuple[str, bytes]]]]:
    """Keys per meter and, per meter, its signed readings in sequence order."""
    start = int(time.time()) - 6 * 86400
    keys: dict[str, bytes] = {}
    per_meter: list[list[tuple[str, bytes]]] = []
    for m in range(meters):
        meter_id = f"{prefix}-{m:05d}"
        seed = hashlib.sha256(meter_id.encode()).digest()
        keys[meter_id] = public_key_from_seed(seed)
        readings = []
        for seq in range(1, per_meter_n + 1):
            readings.append((meter_id, sign_envelope(seed, {
                "kind": "reading", "meter": meter_id, "seq": seq, "ts": start + seq * 300, "clk": 1,
                "int_s": 300, "imp_wh": 10_000 + seq * 40, "exp_wh": 50_000 + seq * 250,
                "v_dv": 2301, "i_ma": 4210, "p_w": -3000, "pf_milli": 991, "f_chz": 5001, "fw": "1.0.0",
            })))
        per_meter.append(readings)
    return keys, per_meter


def _interleave(per_meter: list[list[tuple[str, bytes]]]) -> list[tuple[str, bytes]]:
    """Round-robin across meters (how a fleet publishes), each meter in seq order."""
    return [per_meter[m][i] for i in range(len(per_meter[0])) for m in range(len(per_meter))]


def _interleave_seq(per_meter: list[list[tuple[str, bytes]]]) -> list[tuple[int, tuple[str, bytes]]]:
    """Round-robin across meters, each reading with its sequence number (read from the envelope)."""
    return [(int(parse_envelope(raw).reading["seq"]), (meter_id, raw)) for meter_id, raw in _interleave(per_meter)]


async def _prepare_db(server: EmbeddedPostgres, name: str, keys: dict[str, bytes], wallet: str = "bench-wallet") -> str:
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(server.dsn(name))
    try:
        await migrate(conn)
        owner = await conn.fetchval("INSERT INTO users (wallet, role) VALUES ($1, 'prosumer') RETURNING id", wallet)
        await conn.copy_records_to_table(
            "meters", records=[(k, owner, v) for k, v in keys.items()],
            columns=("meter_id", "owner_id", "device_pubkey"),
        )
    finally:
        await conn.close()
    return server.dsn(name)


class _Aggregator(AggregatorProcess):
    """``python -m aggregator serve`` on ``dsn``, measuring ingest alone: no chain unless
    the caller names one."""

    def __init__(self, dsn: str, env: dict[str, str], workers: int = 1) -> None:
        super().__init__({"GTX_DATABASE_URL": dsn, "GTX_LOG_LEVEL": "WARNING",
                          "GTX_INGEST_RATE_LIMIT_INTERVAL_S": "300", "GTX_CHAIN_BACKEND": "none",
                          # the fleet has one owner: no per-owner mint budget in the latency run
                          "GTX_MINT_OWNER_BATCHES_PER_HOUR": "0", **env},
                         workers=workers)

    async def ready(self, timeout_s: float = 30) -> None:  # type: ignore[override]
        await self.ready_async(timeout_s)

    def stop(self, timeout_s: float = 10) -> int:
        return super().stop(timeout_s)


async def _stored(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM readings"))
    finally:
        await conn.close()


def _verify_ceiling(per_meter: list[list[tuple[str, bytes]]], keys: dict[str, bytes], seconds: float = 1.5) -> float:
    """Readings/s that one-by-one PyNaCl verification alone reaches on every core."""
    items = [(parse_envelope(raw), keys[m]) for readings in per_meter[:50] for m, raw in readings[:40]]
    threads = os.cpu_count() or 1

    def work(_: int) -> int:
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            verify_batch(items[:200], "reference")
            done += 200
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(work, range(threads)))
    return total / (time.perf_counter() - started)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def _bench_http(server: EmbeddedPostgres) -> tuple[float, float]:
    keys, per_meter = _fleet("h")
    dsn = await _prepare_db(server, "bench_http", keys)
    agg = _Aggregator(dsn, {}, workers=HTTP_WORKERS)
    try:
        await agg.ready()
        halves = [_interleave(per_meter[: N_METERS // 2]), _interleave(per_meter[N_METERS // 2 :])]

        acks: list[float] = []

        async def stream(items: list[tuple[str, bytes]]) -> None:
            async with httpx.AsyncClient(base_url=agg.url, timeout=60) as c:
                for i in range(0, len(items), HTTP_BATCH):
                    body = b"\n".join(raw for _, raw in items[i : i + HTTP_BATCH])
                    sent = time.perf_counter()
                    resp = await c.post("/api/meters/submit-readings", content=body,
                                        headers={"content-type": "application/x-ndjson"})
                    acks.append(time.perf_counter() - sent)
                    resp.raise_for_status()
                    if resp.json()["rejected"]:
                        raise RuntimeError(f"bench readings rejected: {resp.json()['rejections'][:3]}")

        started = time.perf_counter()
        await asyncio.gather(*(stream(h) for h in halves))
        elapsed = time.perf_counter() - started
        total = N_METERS * PER_METER
        if await _stored(dsn) != total:
            raise RuntimeError("not every reading was stored")
        return total / elapsed, _p95(acks)
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
    keys, per_meter = _fleet("q")
    dsn = await _prepare_db(server, "bench_mqtt", keys)
    # The consumer's rate is measured, so the broker queues without a save per message:
    # with the durable settings (DURABLE_PERSISTENCE) mosquitto rewrites its whole
    # database after every queued message, quadratic in a backlog this deep.
    broker = MosquittoBroker(workdir / "mosquitto", autosave=False)
    broker.start()
    agg_env = {"GTX_MQTT_ENABLED": "true", "GTX_MQTT_HOST": broker.host,
               "GTX_MQTT_PORT": str(broker.port), "GTX_MQTT_CLIENT_ID": "bench-agg", **MQTT_TUNING}
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


def _publish_paced(host: str, port: int, items: list[tuple[str, bytes]], rate: float, sent: list[float]) -> None:
    """Publish at ``rate`` readings/s (in steps of 100), noting when each one went out."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-flood")
    client.max_inflight_messages_set(4000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        started = time.perf_counter()
        infos = []
        for i in range(0, len(items), 100):
            time.sleep(max(0.0, started + i / rate - time.perf_counter()))
            now = time.perf_counter()
            for meter_id, raw in items[i : i + 100]:
                infos.append(client.publish(reading_topic(meter_id), raw, qos=1))
                sent.append(now)
        for info in infos:
            info.wait_for_publish(timeout=120)
    finally:
        client.disconnect()
        client.loop_stop()


async def _bench_mqtt_flood(server: EmbeddedPostgres, workdir: Path) -> tuple[float, float]:
    """Aggregator online, the fleet publishing at MQTT_FLOOD_RATE: p95 publish -> stored."""
    keys, per_meter = _fleet("f", N_METERS, max(1, PER_METER // 2))
    dsn = await _prepare_db(server, "bench_mqtt_flood", keys)
    broker = MosquittoBroker(workdir / "mosquitto-flood")
    broker.start()
    agg = _Aggregator(dsn, {"GTX_MQTT_ENABLED": "true", "GTX_MQTT_HOST": broker.host,
                            "GTX_MQTT_PORT": str(broker.port), "GTX_MQTT_CLIENT_ID": "bench-flood-agg",
                            **MQTT_TUNING})
    try:
        await agg.ready()
        items = _interleave(per_meter)
        sent: list[float] = []
        publishing = asyncio.create_task(asyncio.to_thread(
            _publish_paced, broker.host, broker.port, items, MQTT_FLOOD_RATE, sent))
        samples: list[tuple[float, int]] = []
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.perf_counter() + 300
            while not samples or samples[-1][1] < len(items):
                samples.append((time.perf_counter(), int(await conn.fetchval("SELECT count(*) FROM readings"))))
                if time.perf_counter() > deadline:
                    raise RuntimeError("MQTT flood not stored in 300 s")
                await asyncio.sleep(0.005)
        finally:
            await conn.close()
        await publishing
        # Commits keep arrival order, so reading i is stored once the count passes i.
        latencies, s = [], 0
        for i, t_sent in enumerate(sent):
            while samples[s][1] <= i:
                s += 1
            latencies.append(samples[s][0] - t_sent)
        return len(items) / (samples[-1][0] - sent[0]), _p95(latencies)
    finally:
        agg.stop()
        broker.stop()


class _Localnet(LocalnetProcess):
    """``python -m tools.localnet``: the programs in LiteSVM behind JSON-RPC, its own process."""

    async def ready(self, timeout_s: float = 30) -> None:  # type: ignore[override]
        await self.ready_async(timeout_s)


async def _chain_setup(url: str, meter_ids: list[str], keys: dict[str, bytes], oracle_path: Path,
                       owner: Keypair) -> None:
    """Initialise the registry and GRID mint and register the fleet on chain (one owner, the
    meters' owner in the database too: the minter mints only where both agree)."""
    registry = Registry()
    backend = RpcBackend(url, [registry.program, registry.token.program])
    try:
        authority, oracle = localnet_deployer(), Keypair()  # authority: the programs' upgrade authority
        for kp in (authority, oracle, owner):
            await backend.client.request_airdrop(kp.pubkey(), 10**12)
        await backend.send([registry.initialize(authority.pubkey(), oracle.pubkey()),
                            registry.token.initialize(authority.pubkey())], [authority])
        await backend.send([registry.register_user(owner.pubkey(), PROSUMER),
                            registry.token.create_token_account(owner.pubkey(), owner.pubkey())], [owner])
        for i in range(0, len(meter_ids), 4):
            await backend.send([registry.register_meter(owner.pubkey(), m, keys[m], "bench")
                                for m in meter_ids[i : i + 4]], [owner])
        oracle_path.write_text(json.dumps(list(bytes(oracle))))
        oracle_path.chmod(0o600)
    finally:
        await backend.close()


async def bench_mint_latency(server: EmbeddedPostgres, workdir: Path) -> dict[str, float]:
    keys, per_meter = _fleet("mint", MINT_METERS, MINT_READINGS_PER_METER)
    owner = Keypair()
    dsn = await _prepare_db(server, "bench_mint", keys, wallet=str(owner.pubkey()))
    localnet = _Localnet()
    agg: _Aggregator | None = None
    try:
        await localnet.ready()
        oracle_path = workdir / "oracle.json"
        await _chain_setup(localnet.url, list(keys), keys, oracle_path, owner)
        agg = _Aggregator(dsn, {"GTX_CHAIN_BACKEND": "rpc", "GTX_CHAIN_RPC_URL": localnet.url,
                                "GTX_CHAIN_ORACLE_KEYPAIR": str(oracle_path)})
        await agg.ready()
        late_sent = 0
        for readings in per_meter:  # every 10th reading overtakes its predecessor
            for k in range(5, len(readings), 10):
                readings[k - 1], readings[k] = readings[k], readings[k - 1]
                late_sent += 1
        items = [(seq, meter_id, raw) for seq, (meter_id, raw) in _interleave_seq(per_meter)]
        sent_at: dict[tuple[str, int], float] = {}
        interval = 1.0 / MINT_RATE

        async def post(c: httpx.AsyncClient, seq: int, meter_id: str, raw: bytes) -> None:
            sent_at[(meter_id, seq)] = time.time()
            resp = await c.post("/api/meters/submit-reading", content=raw)
            if resp.status_code != 201:
                raise RuntimeError(f"bench reading rejected: {resp.text}")

        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=agg.url, timeout=60) as c:
            tasks = []
            for i, (seq, meter_id, raw) in enumerate(items):
                await asyncio.sleep(max(0.0, started + i * interval - time.perf_counter()))
                tasks.append(asyncio.create_task(post(c, seq, meter_id, raw)))
            await asyncio.gather(*tasks)
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + 120
            while await conn.fetchval("SELECT count(*) FROM readings WHERE NOT minted"):
                if time.monotonic() > deadline:
                    states = await conn.fetch("SELECT state, count(*) AS n, max(last_error) AS error"
                                              " FROM mint_batches GROUP BY state")
                    raise RuntimeError("readings not minted within 120 s; mint batches: "
                                       f"{[dict(r) for r in states]}; aggregator log: {agg.stderr_text()[-2000:]}")
                await asyncio.sleep(0.05)
            rows = await conn.fetch(
                """SELECT r.meter_id, r.seq, extract(epoch FROM b.updated_at)::float8 AS confirmed_at
                   FROM readings r JOIN mint_batches b ON b.id = r.mint_batch_id
                   WHERE b.state = 'confirmed' AND r.seq > 1""")  # seq 1: each meter's baseline
            chain_batches = await conn.fetchval(
                "SELECT count(*) FROM mint_batches WHERE tx_signature IS NOT NULL")
            late_accepted = await conn.fetchval(
                """SELECT count(*) FROM readings r WHERE EXISTS (SELECT 1 FROM readings o
                   WHERE o.meter_id = r.meter_id AND o.seq > r.seq AND o.id < r.id)""")
        finally:
            await conn.close()
        latencies = sorted(r["confirmed_at"] - sent_at[(r["meter_id"], r["seq"])] for r in rows)
        last = max(r["confirmed_at"] for r in rows)
        first = min(sent_at.values())
        if len(latencies) != len(items) - MINT_METERS or not chain_batches:
            raise RuntimeError("not every reading was minted through the chain")
        return {
            "aggregator.mint_latency_p50_s": round(latencies[len(latencies) // 2], 3),
            "aggregator.mint_latency_p95_s": round(latencies[int(len(latencies) * 0.95)], 3),
            "aggregator.mint_readings_per_s": round(len(items) / (last - first), 1),
            "aggregator.mint_late_sent": late_sent,
            "aggregator.mint_late_accepted": int(late_accepted),
        }
    finally:
        if agg is not None:
            agg.stop()
        localnet.stop()


async def _run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gtx-bench-agg-") as tmp:
        with scratch_postgres(data_dir=Path(tmp) / "pg") as server:
            keys, per_meter = _fleet("c", 50, 40)
            ceiling = _verify_ceiling(per_meter, keys)
            http, http_p95 = await _bench_http(server)
            mqtt = await _bench_mqtt(server, Path(tmp))
            _, mqtt_p95 = await _bench_mqtt_flood(server, Path(tmp))
            mint = await bench_mint_latency(server, Path(tmp)) if WITH_MINT else {}
    return {
        "aggregator.ingest_readings_per_s": round(max(http, mqtt), 1),
        "aggregator.ingest_http_batch_readings_per_s": round(http, 1),
        "aggregator.ingest_mqtt_readings_per_s": round(mqtt, 1),
        "aggregator.verify_ceiling_readings_per_s": round(ceiling, 1),
        "aggregator.ingest_mqtt_ratio": round(mqtt / ceiling, 3),
        "aggregator.ingest_http_ratio": round(http / ceiling, 3),
        "aggregator.ingest_http_ack_p95_s": round(http_p95, 3),
        "aggregator.ingest_mqtt_ack_p95_s": round(mqtt_p95, 3),
        **mint,
    }


def run() -> dict[str, float]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:45s} {value:>12,.3f} {UNITS[key]}")
