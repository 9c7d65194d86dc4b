"""Every validation rule, accepted and rejected, over HTTP against a real PostgreSQL.

Each rejection must come back as a 4xx JSON error with its reason code and be recorded
in ``reading_rejections``; nothing rejected may reach ``readings``.
"""

from __future__ import annotations

import time

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.aggregator.agg_helpers import Actors, SimMeter, seed_for
from aggregator.services import services_of


async def submit(client: httpx.AsyncClient, raw: bytes) -> httpx.Response:
    return await client.post("/api/meters/submit-reading", content=raw)


async def assert_rejected(client: httpx.AsyncClient, app: FastAPI, raw: bytes, status: int, reason: str) -> None:
    resp = await submit(client, raw)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["reason"] == reason
    async with services_of(app).pool.acquire() as conn:
        recorded = await conn.fetchval(
            "SELECT count(*) FROM reading_rejections WHERE reason = $1 AND envelope = $2",
            reason, raw[: services_of(app).settings.ingest.max_envelope_bytes],
        )
    assert recorded >= 1


async def stored_seqs(app: FastAPI, meter_id: str) -> list[int]:
    async with services_of(app).pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq FROM readings WHERE meter_id = $1 ORDER BY seq", meter_id)
    return [r["seq"] for r in rows]


@pytest.fixture
async def meter(actors: Actors, client: httpx.AsyncClient) -> SimMeter:
    owner = await actors.user("owner")
    m = await actors.meter(owner, "mtr-0001")
    resp = await submit(client, m.next())  # baseline reading
    assert resp.status_code == 201, resp.text
    return m


async def test_baseline_then_delta_is_stored_with_energy(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    raw = meter.next(imp_delta=40, exp_delta=900)
    resp = await submit(client, raw)
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "accepted" and body["seq"] == 2 and body["reading_id"] > 0
    async with services_of(app).pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM readings WHERE meter_id = 'mtr-0001' AND seq = 2")
        first = await conn.fetchrow("SELECT * FROM readings WHERE meter_id = 'mtr-0001' AND seq = 1")
    assert bytes(row["envelope"]) == raw  # kept verbatim
    assert (row["production_wh"], row["consumption_wh"]) == (900, 40)
    assert (first["production_wh"], first["consumption_wh"]) == (0, 0)
    assert row["minted"] is False and row["mint_tx_signature"] is None


async def test_unknown_meter(client: httpx.AsyncClient, app: FastAPI) -> None:
    stranger = SimMeter("mtr-ghost", seed_for("ghost"))
    await assert_rejected(client, app, stranger.next(), 404, "unknown_meter")


async def test_meter_inactive_then_reactivated(client: httpx.AsyncClient, app: FastAPI, actors: Actors) -> None:
    owner = await actors.user("bob")
    m = await actors.meter(owner, "mtr-b")
    assert (await actors.set_status(owner, "mtr-b", "suspended")).json()["status"] == "suspended"
    await assert_rejected(client, app, m.next(), 403, "meter_inactive")
    assert (await actors.set_status(owner, "mtr-b", "active")).status_code == 200
    assert (await submit(client, m.next())).status_code == 201


async def test_bad_signature(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    forger = SimMeter(meter.meter_id, seed_for("someone else"), seq=meter.seq, ts=meter.ts)
    await assert_rejected(client, app, forger.next(), 401, "bad_signature")
    assert await stored_seqs(app, meter.meter_id) == [1]


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"not json", 422, "malformed_json"),
        (b'{"v":1,"meter":"mtr-0001","payload":"e30=","sig":"AA=="}', 422, "bad_signature_length"),
        (b'{"v":2,"meter":"mtr-0001","payload":"","sig":""}', 422, "unsupported_version"),
        (b"{" + b" " * 5000 + b"}", 413, "too_large"),
    ],
)
async def test_malformed_envelopes(client: httpx.AsyncClient, app: FastAPI, raw: bytes, status: int, reason: str) -> None:
    await assert_rejected(client, app, raw, status, reason)


async def test_no_clock(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    meter.seq += 1
    raw = meter.sign(meter.reading(clk=0, ts=0, imp_wh=meter.imp_wh + 10))
    await assert_rejected(client, app, raw, 422, "no_clock")


async def test_too_old_and_max_age_boundary(client: httpx.AsyncClient, app: FastAPI, actors: Actors) -> None:
    owner = await actors.user("carol")
    m = await actors.meter(owner, "mtr-c")
    m.ts = int(time.time()) - 8 * 86400
    await assert_rejected(client, app, m.next(dt_s=0), 422, "too_old")
    m.ts = int(time.time()) - 7 * 86400 + 60  # inside the 7-day window
    assert (await submit(client, m.next(dt_s=0))).status_code == 201


async def test_future_timestamp_and_skew_tolerance(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    now = int(time.time())
    await assert_rejected(client, app, meter.next(ts=now + 3600), 422, "future_timestamp")
    meter.ts = now + 60  # within the 120 s clock-skew tolerance
    assert (await submit(client, meter.next(dt_s=0))).status_code == 201


async def test_duplicate_sequence_redelivery(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    raw = meter.next()
    assert (await submit(client, raw)).status_code == 201
    await assert_rejected(client, app, raw, 409, "duplicate_sequence")
    meter.next()
    meter.next()
    assert (await submit(client, meter.next())).status_code == 201  # seq 5
    meter.seq = 1  # an old, stored sequence number re-sent later
    await assert_rejected(client, app, meter.next(), 409, "duplicate_sequence")  # seq 2
    assert await stored_seqs(app, meter.meter_id) == [1, 2, 5]


async def stored_contributions(app: FastAPI, meter_id: str) -> dict[int, tuple[int, int]]:
    async with services_of(app).pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, production_wh, consumption_wh FROM readings WHERE meter_id = $1", meter_id)
    return {r["seq"]: (r["production_wh"], r["consumption_wh"]) for r in rows}


async def test_late_reading_between_neighbours_is_accepted_once(
        client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    late = [meter.next(exp_delta=300, imp_delta=10) for _ in range(4)]  # seq 2..5, held back
    assert (await submit(client, meter.next(exp_delta=300, imp_delta=10))).status_code == 201  # seq 6
    for raw in reversed(late):  # the backlog arrives newest first
        resp = await submit(client, raw)
        assert resp.status_code == 201, resp.text
    await assert_rejected(client, app, late[1], 409, "duplicate_sequence")
    assert await stored_seqs(app, meter.meter_id) == [1, 2, 3, 4, 5, 6]
    # Seq 6 spans 2..5 already: the late ones add nothing, the sum is last minus first.
    contributions = await stored_contributions(app, meter.meter_id)
    assert sum(c[0] for c in contributions.values()) == 5 * 300
    assert sum(c[1] for c in contributions.values()) == 5 * 10


async def test_late_reading_inconsistent_with_its_neighbours(
        client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    held = meter.seq, meter.ts, meter.imp_wh, meter.exp_wh
    meter.seq += 2
    assert (await submit(client, meter.next(dt_s=900, exp_delta=600))).status_code == 201  # seq 4
    meter.seq, meter.ts, meter.imp_wh, meter.exp_wh = held
    # seq 2 claims more export than the stored seq 4 already has.
    await assert_rejected(client, app, meter.next(exp_delta=601), 422, "counter_decreased")
    meter.seq, meter.ts, meter.imp_wh, meter.exp_wh = held
    # seq 2 stamped after seq 4.
    await assert_rejected(client, app, meter.next(dt_s=1200, exp_delta=100), 422, "time_regressed")
    meter.seq, meter.ts, meter.imp_wh, meter.exp_wh = held
    assert (await submit(client, meter.next(dt_s=300, exp_delta=200))).status_code == 201
    assert await stored_seqs(app, meter.meter_id) == [1, 2, 4]


async def test_late_reading_before_the_first_becomes_the_baseline(
        client: httpx.AsyncClient, app: FastAPI, actors: Actors) -> None:
    owner = await actors.user("early")
    m = await actors.meter(owner, "mtr-early")
    early = [m.next(exp_delta=400, imp_delta=20) for _ in range(3)]  # seq 1..3
    assert (await submit(client, m.next(exp_delta=400, imp_delta=20))).status_code == 201  # seq 4: baseline
    for raw in early:
        assert (await submit(client, raw)).status_code == 201
    contributions = await stored_contributions(app, m.meter_id)
    assert sum(c[0] for c in contributions.values()) == 3 * 400  # seq 4 minus seq 1
    async with services_of(app).pool.acquire() as conn:
        first = await conn.fetchval("SELECT first_seq FROM meters WHERE meter_id = $1", m.meter_id)
    assert first == 1


async def test_duplicate_window_same_counters_resent(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    # Same counters under a new sequence number 10 minutes later: a replayed measurement.
    await assert_rejected(client, app, meter.next(imp_delta=0, exp_delta=0, dt_s=600), 409, "duplicate_window")
    # The same counters after 20 minutes (outside the window): just no energy moved.
    await assert_rejected(client, app, meter.next(imp_delta=0, exp_delta=0, dt_s=1200), 422, "energy_not_positive")


async def test_rate_limited(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    await assert_rejected(client, app, meter.next(dt_s=20), 429, "rate_limited")
    meter.ts -= 20
    assert (await submit(client, meter.next(dt_s=60))).status_code == 201  # exactly the interval


async def test_counter_decreased(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    await assert_rejected(client, app, meter.next(imp_delta=-5, exp_delta=100), 422, "counter_decreased")
    meter.imp_wh, meter.exp_wh = meter.imp_wh + 5, meter.exp_wh - 100  # back to the stored counters
    await assert_rejected(client, app, meter.next(imp_delta=0, exp_delta=-1), 422, "counter_decreased")


async def test_energy_bounds(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    await assert_rejected(client, app, meter.next(imp_delta=1, exp_delta=100_000, dt_s=3600), 422, "energy_too_large")
    meter.exp_wh -= 100_000
    meter.imp_wh -= 1
    meter.ts -= 3600
    resp = await submit(client, meter.next(imp_delta=0, exp_delta=100_000, dt_s=3600))  # exactly 100 kWh
    assert resp.status_code == 201, resp.text
    assert (await submit(client, meter.next(imp_delta=1, exp_delta=0))).status_code == 201  # 1 Wh


async def test_energy_cap_ignores_the_device_chosen_interval(
        client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    # One hour later, claiming a 1 s interval: 3,600 "intervals" must not unlock 300 MWh.
    await assert_rejected(client, app, meter.next(exp_delta=300_000_000, dt_s=3600, int_s=1), 422, "energy_too_large")
    meter.exp_wh -= 300_000_000
    meter.imp_wh -= 100
    meter.ts -= 3600
    # More than the rated power (100 kW by default) over five minutes: 8,333 Wh at most.
    await assert_rejected(client, app, meter.next(exp_delta=8_400, dt_s=300), 422, "energy_too_large")
    meter.exp_wh -= 8_400
    meter.imp_wh -= 100
    meter.ts -= 300
    assert (await submit(client, meter.next(imp_delta=0, exp_delta=8_300, dt_s=300))).status_code == 201


async def test_energy_cap_scales_over_a_declared_gap(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    # Readings 2..4 were lost on the device; the gap record says so explicitly.
    gap = meter.sign({"kind": "gap", "meter": meter.meter_id, "seq": 4, "ts": meter.ts + 900, "clk": 1,
                      "from_seq": 2, "to_seq": 4, "fw": "1.0.0"})
    resp = await submit(client, gap)
    assert resp.status_code == 201 and resp.json()["status"] == "gap"
    meter.seq = 4
    resp = await submit(client, meter.next(imp_delta=0, exp_delta=250_000, dt_s=3 * 3600))  # 4 intervals
    assert resp.status_code == 201, resp.text
    gaps = (await client.get(f"/api/meters/{meter.meter_id}/gaps")).json()
    assert [(g["from_seq"], g["to_seq"]) for g in gaps] == [(2, 4)]
    # A jump in seq alone does not widen the cap: only 2 intervals of server spacing passed.
    meter.seq += 50
    await assert_rejected(client, app, meter.next(imp_delta=0, exp_delta=200_001, dt_s=120), 422, "energy_too_large")


async def test_gap_record_with_an_absurd_timestamp_is_refused(
        client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    gap = meter.sign({"kind": "gap", "meter": meter.meter_id, "seq": 4, "ts": 2**62, "clk": 1,
                      "from_seq": 2, "to_seq": 4, "fw": "1.0.0"})
    await assert_rejected(client, app, gap, 422, "future_timestamp")
    assert (await submit(client, meter.next())).status_code == 201  # ingest goes on


async def test_nothing_rejected_reaches_readings(client: httpx.AsyncClient, app: FastAPI, meter: SimMeter) -> None:
    await submit(client, meter.next(imp_delta=-1))
    async with services_of(app).pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM readings") == 1
        row = await conn.fetchrow("SELECT transport, meter_id, seq FROM reading_rejections")
    assert dict(row) == {"transport": "http", "meter_id": "mtr-0001", "seq": 2}
    [seen] = (await client.get("/api/meters/mtr-0001/rejections")).json()
    assert (seen["seq"], seen["reason"], seen["transport"]) == (2, "counter_decreased", "http")


async def test_meter_state_survives_app_restart(pg_dsn: str, meter: SimMeter, app: FastAPI) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        row = await conn.fetchrow("SELECT last_seq, last_imp_wh, last_exp_wh FROM meters WHERE meter_id = 'mtr-0001'")
    finally:
        await conn.close()
    assert (row["last_seq"], row["last_imp_wh"], row["last_exp_wh"]) == (1, meter.imp_wh, meter.exp_wh)
