"""The mint rule through the real aggregator and the programs in LiteSVM (docs/mint-rule.md).

GRID of a meter = export counter of its last accepted reading minus that of its first,
whatever the arrival order, the grouping into requests and mint transactions, the
transport (HTTP one by one, HTTP batches, MQTT through a real broker), duplicate
deliveries, and a restart of the service at a random moment.

The aggregator runs in-process against a real PostgreSQL and mosquitto, minting over
JSON-RPC into tools/localnet (served from this process), so the chain outlives the
service's restarts as a cluster would.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import paho.mqtt.client as paho
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from aggregator.app import create_app
from aggregator.chain import PROSUMER, LocalChain, Registry, token_amount
from aggregator.chain.connect import deployed_programs
from aggregator.config import ChainSettings, MqttSettings
from aggregator.services import services_of
from common.envelope import reading_topic
from tests.aggregator.agg_helpers import Actors, app_client, SimMeter, make_settings, seed_for
from tests.chain.chain_world import serve_localnet
from tools.localnet import Localnet
from devservers.mosquitto import MosquittoBroker

REGISTRY = Registry()
QUARTER_S = 900


# --- a realistic household day -----------------------------------------------------------

def day(meter: SimMeter, rng: random.Random, n: int, start_ts: int) -> list[bytes]:
    """``n`` signed 15-minute readings from 00:00: PV export around noon, an evening import
    larger than the day's export, a little standby import always."""
    meter.ts = start_ts - QUARTER_S
    peak = rng.randrange(600, 2_500)  # Wh per quarter hour at noon
    out = []
    for i in range(n):
        hour = (i * QUARTER_S / 3600) % 24
        sun = math.sin(math.pi * (hour - 6) / 12) if 6 <= hour <= 18 else 0.0
        exp = int(peak * sun * rng.uniform(0.4, 1.0))
        imp = rng.randrange(300, 1_800) if 17 <= hour <= 23 else rng.randrange(5, 120)
        out.append(meter.next(imp_delta=imp, exp_delta=exp, dt_s=QUARTER_S))
    return out


def rule_wh(raws: list[bytes]) -> int:
    """The mint rule over signed readings: last export counter minus first (by sequence)."""
    readings = sorted((json_payload(r) for r in raws), key=lambda r: r["seq"])
    return readings[-1]["exp_wh"] - readings[0]["exp_wh"]


def json_payload(raw: bytes) -> dict[str, Any]:
    import base64
    return json.loads(base64.b64decode(json.loads(raw)["payload"]))


def delivery_order(per_meter: list[list[bytes]], rng: random.Random) -> list[bytes]:
    """An outage held back and delivered late (newest first or oldest first), readings
    shuffled within a window, duplicate deliveries, all meters interleaved."""
    streams = []
    for readings in per_meter:
        items = list(readings)
        a = rng.randrange(len(items))
        b = rng.randrange(a, len(items) + 1)
        backlog = items[a:b]
        items = items[:a] + items[b:]
        window = rng.randrange(1, 6)
        for i in range(0, len(items), window):
            chunk = items[i : i + window]
            rng.shuffle(chunk)
            items[i : i + window] = chunk
        if rng.random() < 0.5:
            backlog.reverse()
        items += backlog
        for _ in range(rng.randrange(0, 4)):
            items.insert(rng.randrange(len(items) + 1), rng.choice(readings))
        streams.append(items)
    merged = []
    while any(streams):
        s = rng.choice([s for s in streams if s])
        merged.append(s.pop(0))
    return merged


# --- the service -------------------------------------------------------------------------

@dataclass
class World:
    dsn: str
    rpc_url: str
    oracle_path: Path
    chain: LocalChain
    broker: MosquittoBroker


def service_settings(w: World) -> Any:
    s = make_settings(w.dsn)
    s.chain = ChainSettings(backend="rpc", rpc_url=w.rpc_url, oracle_keypair=w.oracle_path)
    s.mqtt = MqttSettings(enabled=True, host=w.broker.host, port=w.broker.port, client_id="agg-mint-rule")
    s.mint_backoff_base_s = 0.05
    return s


def publish(broker: MosquittoBroker, raws: list[bytes]) -> None:
    """QoS 1 from a plain paho client; returns once the broker acknowledged every one."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"meters-{time.monotonic_ns()}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(reading_topic(json.loads(r)["meter"]), r, qos=1) for r in raws]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


async def send(client: httpx.AsyncClient, broker: MosquittoBroker, how: str, raws: list[bytes]) -> None:
    allowed = {"duplicate_sequence"}  # the only refusal a valid day may see: a re-delivery
    if how == "mqtt":
        await asyncio.to_thread(publish, broker, raws)
    elif how == "one":
        for raw in raws:
            resp = await client.post("/api/meters/submit-reading", content=raw)
            assert resp.status_code == 201 or resp.json()["error"]["reason"] in allowed, resp.text
    else:
        resp = await client.post("/api/meters/submit-readings", content=b"\n".join(raws),
                                 headers={"content-type": "application/x-ndjson"})
        assert resp.status_code == 200, resp.text
        assert {r["reason"] for r in resp.json()["rejections"]} <= allowed, resp.text


async def register(client: httpx.AsyncClient, chain: LocalChain, name: str) -> tuple[Keypair, SimMeter]:
    actors = Actors(client)
    owner = await actors.user(name)
    meter = await actors.meter(owner, name.upper())
    chain.fund(owner.pubkey())
    chain.send([REGISTRY.register_user(owner.pubkey(), PROSUMER),
                REGISTRY.register_meter(owner.pubkey(), meter.meter_id, bytes.fromhex(meter.public_key_hex), "lab")],
               [owner])
    return owner, meter


def grid(chain: LocalChain, owner: Keypair) -> int:
    account = chain.account(REGISTRY.token.token_account(owner.pubkey()))
    return 0 if account is None else token_amount(account.data)


async def settled(dsn: str, meter_ids: list[str], distinct: int, timeout_s: float = 60) -> None:
    """Every distinct reading stored (MQTT drained) and minted."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            stored, unminted = await conn.fetchrow(
                "SELECT count(*), count(*) FILTER (WHERE NOT minted) FROM readings WHERE meter_id = ANY($1::text[])",
                meter_ids)
            if stored == distinct and unminted == 0:
                return
            assert time.monotonic() < deadline, (stored, distinct, unminted, await conn.fetch(
                "SELECT meter_id, state, last_error FROM mint_batches WHERE state <> 'confirmed'"))
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def one_day(w: World, rng: random.Random, example: int, n_meters: int, n_readings: int) -> None:
    start_ts = int(time.time()) - 3 * 86400
    app = create_app(service_settings(w))
    stack = app.router.lifespan_context(app)
    await stack.__aenter__()
    await asyncio.wait_for(services_of(app).mqtt.connected.wait(), 10)
    try:
        async with app_client(app, "http://a") as c:
            pairs = [await register(c, w.chain, f"day{example}-m{i}") for i in range(n_meters)]
        per_meter = [day(m, rng, n_readings, start_ts) for _, m in pairs]
        order = delivery_order(per_meter, rng)
        chunks, i = [], 0
        while i < len(order):
            size = rng.randrange(1, 16)
            chunks.append((rng.choice(["one", "batch", "mqtt"]), order[i : i + size]))
            i += size
        crash_at = rng.randrange(len(chunks) + 1)
        for k, (how, raws) in enumerate(chunks):
            if k == crash_at:
                # Stop the service wherever it is (its minter and MQTT consumer cancelled
                # mid-step, as a crash leaves them), then start a new one on the same state.
                await asyncio.sleep(rng.uniform(0, 0.05))
                await stack.__aexit__(None, None, None)
                app = create_app(service_settings(w))
                stack = app.router.lifespan_context(app)
                await stack.__aenter__()
                await asyncio.wait_for(services_of(app).mqtt.connected.wait(), 10)
            async with app_client(app, "http://a") as c:
                await send(c, w.broker, how, raws)
            if rng.random() < 0.3:
                await asyncio.sleep(rng.uniform(0, 0.03))  # let a mint cycle run now, or not
        meter_ids = [m.meter_id for _, m in pairs]
        await settled(w.dsn, meter_ids, n_meters * n_readings)
        async with app_client(app, "http://a") as c:
            for (owner, meter), readings in zip(pairs, per_meter):
                expected = rule_wh(readings)
                assert grid(w.chain, owner) == expected, (meter.meter_id, grid(w.chain, owner), expected)
                audit = (await c.get(f"/api/meters/{meter.meter_id}/reconciliation")).json()
                assert (audit["due_wh"], audit["minted_wh"], audit["pending_wh"], audit["difference_wh"],
                        audit["consistent"]) == (expected, expected, 0, 0, True), audit
    finally:
        await stack.__aexit__(None, None, None)


def test_grid_is_the_mint_rule_over_the_signed_readings_whatever_the_timing(
        pg_server: Any, mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    chain = LocalChain(deployed_programs())
    authority, oracle = chain.deployer(), chain.new_funded_keypair()
    chain.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                REGISTRY.token.initialize(authority.pubkey())], [authority])
    oracle_path = tmp_path / "oracle.json"
    oracle_path.write_text(json.dumps(list(bytes(oracle))))
    oracle_path.chmod(0o600)
    dsn = asyncio.run(_fresh_database(pg_server))
    examples = iter(range(1_000))

    with serve_localnet(localnet=Localnet(chain)) as rpc_url:
        world = World(dsn, rpc_url, oracle_path, chain, mosquitto)

        @settings(max_examples=8, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
        @given(rng=st.randoms(use_true_random=False), n_meters=st.integers(2, 3), n_readings=st.integers(12, 48))
        def check(rng: random.Random, n_meters: int, n_readings: int) -> None:
            asyncio.run(one_day(world, rng, next(examples), n_meters, n_readings))

        check()


async def _fresh_database(pg_server: Any) -> str:
    from tests.support.postgres import TEMPLATE_DB
    name = f"gtx_mint_rule_{time.monotonic_ns()}"
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    finally:
        await admin.close()
    return pg_server.dsn(name)


# --- the same 96-reading day, three ways ------------------------------------------------

async def test_one_day_posted_one_by_one_as_a_batch_and_shuffled_mints_the_same_grid(pg_dsn: str) -> None:
    settings_ = make_settings(pg_dsn, chain="litesvm")
    settings_.mint_backoff_base_s = 0.05
    app = create_app(settings_)
    async with app.router.lifespan_context(app):
        async with app_client(app, "http://a") as c:
            local = services_of(app).chain_handle.local
            owners, meters = [], []
            for way in ("one", "batch", "shuffled"):
                owner, meter = await register(c, local, f"twin-{way}")
                owners.append(owner)
                meters.append(meter)
            # One meter's day (96 quarter hours), signed by each twin's own device key.
            rng = random.Random(96)
            start = int(time.time()) - 2 * 86400
            template = day(SimMeter("TEMPLATE", seed_for("template")), rng, 96, start)
            days = [[m.sign({**json_payload(raw), "meter": m.meter_id}) for raw in template] for m in meters]
            for raw in days[0]:
                assert (await c.post("/api/meters/submit-reading", content=raw)).status_code == 201
            resp = await c.post("/api/meters/submit-readings", content=b"\n".join(days[1]),
                                headers={"content-type": "application/x-ndjson"})
            assert resp.json()["accepted"] == 96, resp.text
            shuffled = list(days[2])
            random.Random(7).shuffle(shuffled)
            for raw in shuffled:
                assert (await c.post("/api/meters/submit-reading", content=raw)).status_code == 201
            await settled(pg_dsn, [m.meter_id for m in meters], 3 * 96)
            expected = rule_wh(template)
            imported = json_payload(template[-1])["imp_wh"] - json_payload(template[0])["imp_wh"]
            assert imported > 0 and expected > 0
            assert [grid(local, o) for o in owners] == [expected] * 3
            for owner, meter in zip(owners, meters):
                audit = (await c.get(f"/api/meters/{meter.meter_id}/reconciliation")).json()
                assert (audit["signed_export_wh"], audit["signed_import_wh"], audit["difference_wh"]) == (
                    expected, imported, 0)
                balance = (await c.get(f"/api/users/{owner.pubkey()}/balance")).json()
                assert balance["minted_wh"] == expected
