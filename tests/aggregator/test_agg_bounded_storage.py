"""What anonymous senders can make the service store is bounded: rejection rows per kind
and for made-up meter ids, stored challenges; and one owner's meters cannot make the
oracle pay for more than a budget of mint transactions an hour."""

from __future__ import annotations

import random
import re

import httpx
from solders.keypair import Keypair

from aggregator.app import create_app
from aggregator.minting import repository as mint_repo
from aggregator.services import services_of
from tests.aggregator.agg_helpers import Actors, SimMeter, make_settings, running, seed_for
from tools import wallet


async def _count(app: object, sql: str) -> int:
    async with services_of(app).pool.acquire() as conn:  # type: ignore[arg-type]
        return int(await conn.fetchval(sql))


async def test_a_forged_flood_cannot_bury_a_meters_real_rejections_or_fill_the_disk(pg_dsn: str) -> None:
    app = create_app(make_settings(pg_dsn, max_rejections_per_kind=5, max_unregistered_rejections=20))
    async with running(app) as (_, http):
        owner = await Actors(http).user("flooded")
        meter = await Actors(http).meter(owner, "mtr-flood")
        first = meter.next()
        assert (await http.post("/api/meters/submit-reading", content=first)).status_code == 201
        for _ in range(3):  # the meter's own trouble: a resent reading
            assert (await http.post("/api/meters/submit-reading", content=first)).status_code == 409
        forger = SimMeter("mtr-flood", seed_for("not the device key"), seq=meter.seq, ts=meter.ts)
        rng = random.Random(11)
        for _ in range(10):  # 2,000 forged envelopes for the meter, 2,000 for made-up meters
            forged = [forger.next() for _ in range(200)]
            unknown = [SimMeter(f"fake-{rng.randrange(10**9)}", seed_for(str(i))).next() for i in range(200)]
            resp = await http.post("/api/meters/submit-readings", content=b"\n".join(forged + unknown),
                                   headers={"content-type": "application/x-ndjson"})
            assert resp.status_code == 200 and resp.json()["rejected"] == 400

        kept = (await http.get("/api/meters/mtr-flood/rejections", params={"limit": 1000})).json()
        assert sorted(r["reason"] for r in kept) == ["bad_signature"] * 5 + ["duplicate_sequence"] * 3
        assert await _count(app, "SELECT count(*) FROM reading_rejections") == 5 + 3 + 20
        metrics = (await http.get("/metrics")).text
        pruned = re.search(r"^gtx_rejection_rows_pruned_total (\S+)$", metrics, re.M)
        assert pruned is not None and float(pruned[1]) == 4003 - 28  # 4,000 + 3 stored, 28 kept
        assert 'gtx_readings_total{outcome="rejected",reason="bad_signature",transport="http"} 2000.0' in metrics
        # The meter still ingests.
        assert (await http.post("/api/meters/submit-reading", content=meter.next())).status_code == 201


async def test_stored_challenges_are_capped_with_a_reason(pg_dsn: str) -> None:
    settings = make_settings(pg_dsn).model_copy(update={"max_stored_challenges": 12})
    app = create_app(settings)
    async with running(app) as (_, http):  # the test client's own token spent one challenge
        wallets = [str(Keypair.from_seed(seed_for(f"ch-{i}")).pubkey()) for i in range(12)]
        answers = [await http.post("/api/auth/challenge", json={"wallet": w, "purpose": "register_user"})
                   for w in wallets]
        assert [a.status_code for a in answers] == [201] * 11 + [503]
        assert answers[-1].json()["error"]["reason"] == "challenge_store_full"
        async with services_of(app).pool.acquire() as conn:  # expired long ago: dropped at the next issue
            await conn.execute("UPDATE auth_challenges SET expires_at = now() - interval '2 hours'")
        assert (await http.post("/api/auth/challenge", json={"wallet": wallets[0], "purpose": "register_user"})
                ).status_code == 201


async def test_one_owner_gets_a_budget_of_paid_mint_batches_an_hour(pg_dsn: str) -> None:
    app = create_app(make_settings(pg_dsn))
    async with running(app) as (_, http):
        actors = Actors(http)
        greedy, modest = await actors.user("greedy"), await actors.user("modest")
        meters = [await actors.meter(greedy, f"GREEDY-{i}") for i in range(4)] + [await actors.meter(modest, "MODEST-0")]
        for m in meters:
            resp = await http.post("/api/meters/submit-readings", content=b"\n".join([m.next(), m.next()]),
                                   headers={"content-type": "application/x-ndjson"})
            assert resp.json()["accepted"] == 2
        pool = services_of(app).pool

        async def claim() -> list[str]:
            async with pool.acquire() as conn, conn.transaction():
                batches = await mint_repo.claim(conn, 50, 100, owner_batches_per_hour=3)
                # Settled at once, as the minter would after the chain confirms.
                await conn.execute("UPDATE mint_batches SET state = 'confirmed', minted_wh = production_wh")
            return sorted(b["meter_id"] for b in batches)

        assert await claim() == ["GREEDY-0", "GREEDY-1", "GREEDY-2", "MODEST-0"]
        for m in meters:  # more readings: the greedy owner's budget for this hour is spent
            assert (await http.post("/api/meters/submit-reading", content=m.next())).status_code == 201
        assert await claim() == ["MODEST-0"]
        async with pool.acquire() as conn:  # an hour later the budget is back; nothing was lost meanwhile
            await conn.execute("UPDATE mint_batches SET created_at = now() - interval '61 minutes'")
        assert await claim() == ["GREEDY-0", "GREEDY-1", "GREEDY-2"]
        async with pool.acquire() as conn:
            waiting = await conn.fetchval("SELECT count(*) FROM readings WHERE NOT minted AND meter_id = 'GREEDY-3'")
        assert waiting == 3  # its turn comes in the next round; its readings wait, unminted, unlost
