"""The minter against the real programs in LiteSVM: event-driven minting, retries, unknown outcomes.

The app runs its own in-process chain (``GTX_CHAIN_BACKEND=litesvm``); owners register
their wallets and meters on it with their own keys, as they would on a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from solders.keypair import Keypair

from aggregator.app import create_app
from aggregator.chain import PROSUMER, token_amount
from aggregator.chain.connect import Chain
from aggregator.minting.chain import ChainService
from aggregator.services import services_of
from tests.aggregator.agg_helpers import Actors, app_client, SimMeter, make_settings


@pytest.fixture
async def chain_app(pg_dsn: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(pg_dsn, chain="litesvm")
    settings.mint_sweep_s = 3600  # minting below is woken by ingest, never by the sweep
    settings.mint_backoff_base_s = 0.05
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def chain_client(chain_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(chain_app, "http://aggregator") as c:
        yield c


def register_on_chain(chain: Chain, owner: Keypair, meter: SimMeter) -> None:
    local = chain.local
    assert local is not None
    local.fund(owner.pubkey())
    reg = chain.registry
    local.send([reg.register_user(owner.pubkey(), PROSUMER),
                reg.register_meter(owner.pubkey(), meter.meter_id, bytes.fromhex(meter.public_key_hex), "lab")],
               [owner])


async def submit(client: httpx.AsyncClient, messages: list[bytes]) -> None:
    resp = await client.post("/api/meters/submit-readings", content=b"\n".join(messages),
                             headers={"content-type": "application/x-ndjson"})
    assert resp.status_code == 200 and resp.json()["rejected"] == 0, resp.text


async def wait_for(predicate, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def all_minted(app: FastAPI) -> bool:
    async with services_of(app).pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM readings WHERE NOT minted") == 0


def grid_balance(chain: Chain, owner: Keypair) -> int:
    account = chain.local.account(chain.registry.token.token_account(owner.pubkey()))
    return 0 if account is None else token_amount(account.data)


async def test_new_readings_are_minted_at_once_and_exactly(chain_app: FastAPI, chain_client: httpx.AsyncClient) -> None:
    actors, chain = Actors(chain_client), services_of(chain_app).chain_handle
    sub = services_of(chain_app).hub.subscribe()
    owners = [await actors.user(f"p{i}") for i in range(3)]
    meters = [await actors.meter(o, f"MTR-{i}") for i, o in enumerate(owners)]
    for o, m in zip(owners, meters):
        register_on_chain(chain, o, m)
    # 120 readings for MTR-0: more than one 50-reading batch; 250 Wh exported per interval.
    await submit(chain_client, [meters[0].next(imp_delta=100, exp_delta=250) for _ in range(120)])
    await submit(chain_client, [m.next(imp_delta=10, exp_delta=30) for m in meters[1:] for _ in range(5)])
    await wait_for(lambda: all_minted(chain_app))

    # First reading of each meter is its baseline; each later one adds its export (the mint rule).
    assert grid_balance(chain, owners[0]) == 119 * 250
    assert [grid_balance(chain, o) for o in owners[1:]] == [4 * 30, 4 * 30]
    mints = (await chain_client.get("/api/mints", params={"meter_id": "MTR-0"})).json()
    assert sum(b["minted_wh"] for b in mints) == 119 * 250 and {b["state"] for b in mints} == {"confirmed"}
    assert all(b["tx_signature"] for b in mints if b["minted_wh"])
    balance = (await chain_client.get(f"/api/users/{owners[0].pubkey()}/balance")).json()
    assert (balance["minted_wh"], balance["pending_production_wh"]) == (119 * 250, 0)
    events = []
    while not sub.queue.empty():
        events.append(sub.queue.get_nowait())
    assert sum(e["minted_wh"] for e in events if e["type"] == "mint_confirmed") == 119 * 250 + 2 * 120

    # The indexer reads the same mints back from the chain's transaction history.
    await services_of(chain_app).indexer.sync_once()
    totals = (await chain_client.get("/api/chain/meters/MTR-0/totals")).json()
    assert totals["minted_wh"] == 119 * 250

    # A second wave mints only the new export.
    await submit(chain_client, [meters[0].next(imp_delta=0, exp_delta=1000)])
    await wait_for(lambda: all_minted(chain_app))
    assert grid_balance(chain, owners[0]) == 119 * 250 + 1000
    assert await services_of(chain_app).minter.ledger.seconds_until_due() is None  # idle: sleeps until woken


async def test_meter_missing_on_chain_backs_off_then_fails_and_mints_after_requeue(
        chain_app: FastAPI, chain_client: httpx.AsyncClient) -> None:
    actors, chain = Actors(chain_client), services_of(chain_app).chain_handle
    owner = await actors.user("late")
    meter = await actors.meter(owner, "MTR-LATE")
    await submit(chain_client, [meter.next() for _ in range(3)])

    async def failed() -> bool:
        async with services_of(chain_app).pool.acquire() as conn:
            return await conn.fetchval("SELECT state FROM mint_batches WHERE production_wh > 0") == "failed"

    # Attempts 2 and 3 run when their backoff ends (the minter sleeps until the next due batch).
    await wait_for(failed)
    [batch] = [b for b in (await chain_client.get("/api/mints")).json() if b["production_wh"]]
    assert batch["attempts"] == 3 and "not registered on chain" in batch["last_error"]

    register_on_chain(chain, owner, meter)
    await services_of(chain_app).minter.ledger.requeue(batch["id"])
    services_of(chain_app).minter.wake()
    await wait_for(lambda: all_minted(chain_app))
    assert grid_balance(chain, owner) == 2 * 250


class FlakyChain:
    """The real chain service with a fault after (or before) the transaction is sent."""

    def __init__(self, real, *, land_then_fail: int = 0, fail_before_send: int = 0) -> None:
        self.real = real
        self.max_meters_per_tx = real.max_meters_per_tx
        self.land_then_fail = land_then_fail
        self.fail_before_send = fail_before_send

    async def meter_state(self, meter_id: str):
        return await self.real.meter_state(meter_id)

    async def meter_states(self, meter_ids):
        return await self.real.meter_states(meter_ids)

    async def settle_many(self, deltas, states=None):
        if self.fail_before_send:
            self.fail_before_send -= 1
            raise ConnectionResetError("connection reset before the transaction was sent")
        results = await self.real.settle_many(deltas, states)
        if self.land_then_fail:
            self.land_then_fail -= 1
            raise TimeoutError("confirmation timed out")
        return results


@pytest.mark.parametrize("fault", ["land_then_fail", "fail_before_send"])
async def test_unknown_outcomes_are_settled_from_chain_counters(
        pg_dsn: str, chain_app: FastAPI, chain_client: httpx.AsyncClient, fault: str) -> None:
    actors, chain = Actors(chain_client), services_of(chain_app).chain_handle
    owner = await actors.user("flaky")
    meter = await actors.meter(owner, "MTR-FLAKY")
    register_on_chain(chain, owner, meter)

    # A second app on the same database and chain, minting through the faulty wrapper.
    settings = make_settings(pg_dsn)
    settings.mint_sweep_s, settings.mint_backoff_base_s = 3600, 0.05
    flaky = FlakyChain(ChainService(chain.backend, chain.oracle, chain.registry), **{fault: 1})
    other = create_app(settings, chain=flaky)
    async with other.router.lifespan_context(other):
        async with app_client(other, "http://o") as c:
            await submit(c, [meter.next(imp_delta=0, exp_delta=500) for _ in range(4)])
        await wait_for(lambda: all_minted(other))
    assert (flaky.land_then_fail, flaky.fail_before_send) == (0, 0)  # the fault fired
    assert grid_balance(chain, owner) == 3 * 500  # never minted twice, nothing left out
    state = await ChainService(chain.backend, chain.oracle, chain.registry).meter_state("MTR-FLAKY")
    assert (state.production_wh, state.settled_production_wh) == (1500, 1500)
    mints = [b for b in (await chain_client.get("/api/mints")).json() if b["production_wh"]]
    assert [b["state"] for b in mints] == ["confirmed"]
    if fault == "land_then_fail":
        assert mints[0]["last_error"] == "reconciled: landed"
    else:
        assert mints[0]["attempts"] == 2 and mints[0]["tx_signature"]


async def test_one_bad_meter_does_not_hold_up_the_others_in_its_transaction(
        chain_app: FastAPI, chain_client: httpx.AsyncClient) -> None:
    actors, chain = Actors(chain_client), services_of(chain_app).chain_handle
    owners = [await actors.user(f"share-{i}") for i in range(4)]
    meters = [await actors.meter(o, f"SHARE-{i}") for i, o in enumerate(owners)]
    for o, m in zip(owners, meters):
        register_on_chain(chain, o, m)
    # Deactivated on chain only: the aggregator still accepts its readings, the chain refuses them.
    chain.local.send([chain.registry.deactivate_meter(owners[2].pubkey(), "SHARE-2")], [owners[2]])
    await submit(chain_client, [m.next(imp_delta=0, exp_delta=100) for m in meters for _ in range(3)])

    async def settled() -> bool:
        async with services_of(chain_app).pool.acquire() as conn:
            return await conn.fetchval(
                """SELECT (SELECT count(*) FROM readings WHERE NOT minted AND meter_id <> 'SHARE-2') = 0
                      AND (SELECT state FROM mint_batches WHERE meter_id = 'SHARE-2' AND production_wh > 0)
                          = 'failed'""")

    await wait_for(settled)
    assert [grid_balance(chain, o) for o in owners] == [200, 200, 0, 200]
    mints = {b["meter_id"]: b for b in (await chain_client.get("/api/mints")).json() if b["production_wh"]}
    assert mints["SHARE-2"]["state"] == "failed" and "MeterInactive" in mints["SHARE-2"]["last_error"]
    assert {mints[f"SHARE-{i}"]["state"] for i in (0, 1, 3)} == {"confirmed"}


async def test_the_minter_outlives_a_failing_cycle(chain_app: FastAPI, chain_client: httpx.AsyncClient) -> None:
    actors, chain = Actors(chain_client), services_of(chain_app).chain_handle
    owner = await actors.user("survivor")
    meter = await actors.meter(owner, "MTR-SURV")
    register_on_chain(chain, owner, meter)
    ledger = services_of(chain_app).minter.ledger
    real_claim, failures = ledger.claim, []

    async def claim_failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("database went away mid-cycle")
        return await real_claim(*args, **kwargs)

    ledger.claim = claim_failing_once
    await submit(chain_client, [meter.next(imp_delta=0, exp_delta=700) for _ in range(3)])
    await wait_for(lambda: all_minted(chain_app))
    assert failures == [1] and grid_balance(chain, owner) == 2 * 700


async def test_a_meter_id_taken_on_chain_by_another_wallet_steals_nothing(
        chain_app: FastAPI, chain_client: httpx.AsyncClient) -> None:
    """Alice registers ALICE-1 here; Mallory registers the same id on chain with her wallet.
    Alice's readings must not mint GRID to Mallory, and Mallory's key rotation and
    deactivation on chain must not touch Alice's meter in the database."""
    actors, chain = Actors(chain_client), services_of(chain_app).chain_handle
    alice = await actors.user("alice")
    meter = await actors.meter(alice, "ALICE-1")
    mallory = Keypair()
    register_on_chain(chain, mallory, meter)  # the same id and even the same device key
    await submit(chain_client, [meter.next(imp_delta=0, exp_delta=1000) for _ in range(4)])

    async def refused() -> bool:
        async with services_of(chain_app).pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT count(*) FROM mint_batches WHERE state = 'failed' AND last_error LIKE 'owner_mismatch%'") == 1

    await wait_for(refused)
    assert grid_balance(chain, mallory) == 0 and grid_balance(chain, alice) == 0
    audit = (await chain_client.get("/api/meters/ALICE-1/reconciliation")).json()
    assert (audit["due_wh"], audit["minted_wh"], audit["stuck_batches"]) == (3000, 0, 1)

    forged = Keypair()
    reg = chain.registry
    chain.local.send([reg.rotate_meter_key(mallory.pubkey(), "ALICE-1", bytes(forged.pubkey()))], [mallory])
    chain.local.send([reg.deactivate_meter(mallory.pubkey(), "ALICE-1")], [mallory])
    await services_of(chain_app).indexer.sync_once()
    row = (await chain_client.get("/api/meters/ALICE-1")).json()
    assert (row["status"], row["device_public_key"]) == ("active", meter.public_key_hex)
    # Alice's device is still the one whose readings are accepted.
    assert (await chain_client.post("/api/meters/submit-reading", content=meter.next())).status_code == 201
