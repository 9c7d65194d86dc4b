"""The mint batch state machine on a real database (the chain side arrives later).

Chain counters are given as plain values: these tests pin what the ledger records and
decides for each counter observation, not how the chain is reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
import pytest
from fastapi import FastAPI

from aggregator.errors import Conflict
from aggregator.minting import ChainMeterState, MeterDelta, MintChain, MintLedger, MintResult, Verdict, decide
from aggregator.services import services_of
from tests.aggregator.agg_helpers import Actors


@pytest.fixture
def ledger(app: FastAPI) -> MintLedger:
    return MintLedger(services_of(app).pool, max_readings=50, max_attempts=3, backoff_base_s=1.0,
                      metrics=services_of(app).metrics, hub=services_of(app).hub)


async def feed(client: httpx.AsyncClient, actors: Actors, meter_id: str, n: int) -> None:
    owner = await actors.user("owner-" + meter_id)
    m = await actors.meter(owner, meter_id)
    body = b"\n".join(m.next(imp_delta=10, exp_delta=100) for _ in range(n))
    resp = await client.post("/api/meters/submit-readings", content=body,
                             headers={"content-type": "application/x-ndjson"})
    assert resp.json()["accepted"] == n


async def test_claim_aggregates_per_meter_at_most_50(client: httpx.AsyncClient, actors: Actors, ledger: MintLedger, app: FastAPI) -> None:
    await feed(client, actors, "mtr-a", 120)
    await feed(client, actors, "mtr-b", 1)  # baseline only: zero energy, needs no chain call
    batches = await ledger.claim()
    assert [(b["meter_id"], b["reading_count"]) for b in batches] == [("mtr-a", 50)]
    a = batches[0]
    # Reading 1 is the baseline (0 Wh); readings 2..50 carry 100 Wh export and 10 Wh import each.
    assert (a["production_wh"], a["consumption_wh"], a["state"]) == (4900, 490, "claimed")
    async with services_of(app).pool.acquire() as conn:
        zero = await conn.fetchrow("SELECT state, minted_wh FROM mint_batches WHERE meter_id = 'mtr-b'")
        assert dict(zero) == {"state": "confirmed", "minted_wh": 0}
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE minted") == 1
    assert await ledger.claim() == []  # one open batch per meter


async def test_intent_confirm_marks_readings_minted(client: httpx.AsyncClient, actors: Actors, ledger: MintLedger, app: FastAPI) -> None:
    await feed(client, actors, "mtr-c", 5)
    [batch] = await ledger.claim()
    sub = services_of(app).hub.subscribe()
    await ledger.record_intent(batch["id"], ChainMeterState(0, 0, 0))
    confirmed = await ledger.confirm(batch["id"], MintResult("5igSig", 360))
    assert (confirmed["state"], confirmed["tx_signature"], confirmed["minted_wh"]) == ("confirmed", "5igSig", 360)
    event = sub.queue.get_nowait()
    assert event["type"] == "mint_confirmed" and event["minted_wh"] == 360
    resp = await client.get("/api/meters/mtr-c/readings")
    assert {(r["minted"], r["mint_tx_signature"]) for r in resp.json()} == {(True, "5igSig")}
    wallet = (await client.get("/api/meters/mtr-c")).json()["owner_wallet"]
    balance = (await client.get(f"/api/users/{wallet}/balance")).json()
    assert balance["minted_wh"] == 360 and balance["pending_production_wh"] == 0
    mints = (await client.get("/api/mints", params={"meter_id": "mtr-c"})).json()
    assert [m["state"] for m in mints] == ["confirmed"]
    with pytest.raises(Conflict):
        await ledger.confirm(batch["id"], MintResult("again", 1))  # confirmed is final


async def test_failures_back_off_then_alert(client: httpx.AsyncClient, actors: Actors, ledger: MintLedger, app: FastAPI) -> None:
    await feed(client, actors, "mtr-d", 3)
    [batch] = await ledger.claim()
    delays = []
    for attempt in range(1, 4):
        due = await ledger.due()
        assert [b["id"] for b in due] == [batch["id"]]
        await ledger.record_intent(batch["id"], ChainMeterState(0, 0, 0))
        failed = await ledger.fail(batch["id"], f"rpc timeout {attempt}")
        if attempt < 3:
            assert failed["state"] == "claimed"
            async with services_of(app).pool.acquire() as conn:
                delay = await conn.fetchval("SELECT extract(epoch FROM next_attempt_at - now()) FROM mint_batches WHERE id = $1", batch["id"])
                delays.append(round(float(delay)))
                await conn.execute("UPDATE mint_batches SET next_attempt_at = now() WHERE id = $1", batch["id"])
    assert delays == [1, 2]  # then 4 s would follow with max_attempts > 3
    assert failed["state"] == "failed" and failed["last_error"] == "rpc timeout 3"
    assert services_of(app).metrics.mint_alerts.labels("max_attempts")._value.get() == 1
    assert await ledger.due() == []
    requeued = await ledger.requeue(batch["id"])
    assert (requeued["state"], requeued["attempts"]) == ("claimed", 0)
    assert [round(ledger.backoff(n).total_seconds()) for n in (1, 2, 3)] == [1, 2, 4]


@pytest.mark.parametrize(
    ("now", "verdict", "state"),
    [
        (ChainMeterState(1000, 100, 900), Verdict.NOT_LANDED, "claimed"),
        (ChainMeterState(1200, 120, 1080), Verdict.LANDED, "confirmed"),
        (ChainMeterState(1500, 120, 1380), Verdict.CONFLICT, "conflict"),
    ],
)
async def test_restart_reconciles_open_intents(
    client: httpx.AsyncClient, actors: Actors, ledger: MintLedger, app: FastAPI,
    now: ChainMeterState, verdict: Verdict, state: str,
) -> None:
    await feed(client, actors, "mtr-e", 3)  # 2 x (100 Wh export, 10 Wh import) after baseline
    [batch] = await ledger.claim()
    await ledger.record_intent(batch["id"], ChainMeterState(1000, 100, 900))
    # -- crash here: the transaction may or may not have landed --
    restarted = MintLedger(services_of(app).pool, metrics=services_of(app).metrics)
    [open_batch] = await restarted.open_intents()
    assert open_batch["id"] == batch["id"]
    assert await restarted.reconcile(open_batch["id"], now) is verdict
    async with services_of(app).pool.acquire() as conn:
        row = await conn.fetchrow("SELECT state, minted_wh FROM mint_batches WHERE id = $1", batch["id"])
        minted = await conn.fetchval("SELECT count(*) FROM readings WHERE minted AND mint_batch_id = $1", batch["id"])
    assert row["state"] == state
    if verdict is Verdict.LANDED:
        assert row["minted_wh"] == 180 and minted == 3
    else:
        assert minted == 0
    assert await restarted.open_intents() == []


def test_decide_is_exact() -> None:
    before = ChainMeterState(10, 5, 5)
    assert decide(before, before, 3, 1) is Verdict.NOT_LANDED
    assert decide(before, ChainMeterState(13, 6, 7), 3, 1) is Verdict.LANDED
    assert decide(before, ChainMeterState(13, 5, 8), 3, 1) is Verdict.CONFLICT
    assert decide(before, ChainMeterState(16, 7, 9), 3, 1) is Verdict.CONFLICT  # landed twice?


def test_chain_protocol_shape() -> None:
    class Conforming:
        max_meters_per_tx = 5

        async def settle_many(self, deltas: Sequence[MeterDelta],
                              states: Mapping[str, ChainMeterState] | None = None) -> dict[str, MintResult]:
            raise RuntimeError("not called")

        async def meter_states(self, meter_ids: Sequence[str]) -> dict[str, ChainMeterState]:
            raise RuntimeError("not called")

        async def meter_state(self, meter_id: str) -> ChainMeterState:
            raise RuntimeError("not called")

    assert isinstance(Conforming(), MintChain)
    assert not isinstance(object(), MintChain)
