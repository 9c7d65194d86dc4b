"""The indexer against real PostgreSQL and the real programs (LiteSVM in-process, and the
same programs behind tools/localnet's JSON-RPC): events stored exactly once, the chain's
meter changes winning over the database, chain-confirmed minted totals, failed
transactions ignored, paging, crash between batches, the poll loop and the read API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, LocalChain, mint_supply
from aggregator.chain.backend import LiteSvmBackend, TxRecord
from aggregator.deps import get_pool
from aggregator.errors import install_error_handlers
from aggregator.events.hub import EventHub
from aggregator.indexer import Indexer, IndexerError, decode_transaction, router
from aggregator.indexer import repository as repo
from aggregator.users.tokens import Principal, required_principal
from tests.chain.chain_world import PROGRAMS, REGISTRY, World, funded
from tests.chain.conftest import backend, rpc_url  # noqa: F401  (fixtures: each backend)
from tests.support.postgres import pg_dsn, pg_server  # noqa: F401  (fixtures)


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:  # noqa: F811
    p = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture
def svm() -> LiteSvmBackend:
    return LiteSvmBackend(LocalChain(PROGRAMS))


async def _db_meter(pool: asyncpg.Pool, owner: Keypair, meter_id: str, device_key: bytes) -> None:
    """The aggregator's own record of a meter (as POST /api/meters would leave it)."""
    async with pool.acquire() as conn:
        user_id = await conn.fetchval(
            """INSERT INTO users (wallet, role) VALUES ($1, 'prosumer')
               ON CONFLICT (wallet) DO UPDATE SET role = 'prosumer' RETURNING id""", str(owner.pubkey()))
        await conn.execute("INSERT INTO meters (meter_id, owner_id, device_pubkey) VALUES ($1, $2, $3)",
                           meter_id, user_id, device_key)


async def _events(pool: asyncpg.Pool, signature: str | None = None) -> list[tuple[str, int, str, str | None]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT signature, idx, name, meter_id FROM chain_events
               WHERE $1::text IS NULL OR signature = $1 ORDER BY id""", signature)
    return [(r["signature"], r["idx"], r["name"], r["meter_id"]) for r in rows]


async def test_events_stored_once_even_when_resynced_or_cursor_reset(pool, backend):
    world = await World(backend).start()
    owner = await world.owner()
    await world.meter(owner, "M-1")
    await world.meter(owner, "M-2")
    settle = await world.settle([("M-1", 5_000, 1_000), ("M-2", 700, 0)])
    hub = EventHub()
    sub = hub.subscribe()
    indexer = Indexer(pool, backend, PROGRAMS, hub=hub)

    stored = await indexer.sync_once()
    events = await _events(pool)
    assert stored == len(events)
    assert [(name, meter) for _, _, name, meter in await _events(pool, settle.signature)] == [
        ("ReadingsSubmitted", "M-1"), ("ReadingsSubmitted", "M-2"),
        ("ProductionSettled", "M-1"), ("ProductionSettled", "M-2"),
        ("TokensMinted", "M-1"), ("TokensMinted", "M-2")]
    assert [e[1] for e in await _events(pool, settle.signature)] == list(range(6))
    names = [name for _, _, name, _ in events]
    for expected in ("RegistryInitialized", "TokenInitialized", "UserRegistered", "MeterRegistered"):
        assert expected in names
    published = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [(p["type"], p["signature"], p["idx"]) for p in published] == [
        ("chain_event", s, i) for s, i, _, _ in events]
    minted = next(p for p in published if p["name"] == "TokensMinted")
    assert minted["meter_id"] == "M-1" and minted["data"]["amount_wh"] == 5_000

    assert await indexer.sync_once() == 0
    async with pool.acquire() as conn:
        await repo.reset_cursors(conn)
    assert await indexer.sync_once() == 0
    assert await Indexer(pool, backend, PROGRAMS).sync_once() == 0  # a fresh process, same database
    assert await _events(pool) == events
    assert sub.queue.empty()
    async with pool.acquire() as conn:
        totals = await repo.meter_totals(conn, "M-1")
    assert (totals["minted_wh"], totals["settled_wh"], totals["settlements"]) == (5_000, 5_000, 1)


async def test_chain_wins_on_deactivation_and_key_rotation(pool, svm):
    world = await World(svm).start()
    owner = await world.owner()
    old_key, new_key = bytes(range(32)), bytes(range(32, 64))
    await _db_meter(pool, owner, "M-1", old_key)
    await world.meter(owner, "M-1", old_key)
    await world.meter(owner, "CHAIN-ONLY")
    rotated = await svm.send([REGISTRY.rotate_meter_key(owner.pubkey(), "M-1", new_key)], [owner])
    indexer = Indexer(pool, svm, PROGRAMS)
    await indexer.sync_once()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, device_pubkey FROM meters WHERE meter_id = 'M-1'")
    assert (row["status"], bytes(row["device_pubkey"])) == ("active", new_key)
    assert [e[2:] for e in await _events(pool, rotated.signature)] == [("MeterKeyRotated", "M-1")]

    revoked = await svm.send([REGISTRY.deactivate_meter(owner.pubkey(), "M-1"),
                              REGISTRY.deactivate_meter(owner.pubkey(), "CHAIN-ONLY")], [owner])
    assert await indexer.sync_once() == 2
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, device_pubkey FROM meters WHERE meter_id = 'M-1'")
        assert await conn.fetchval("SELECT count(*) FROM meters WHERE meter_id = 'CHAIN-ONLY'") == 0
    assert (row["status"], bytes(row["device_pubkey"])) == ("revoked", new_key)
    assert [e[2:] for e in await _events(pool, revoked.signature)] == [
        ("MeterDeactivated", "M-1"), ("MeterDeactivated", "CHAIN-ONLY")]


async def test_minted_totals_match_the_chain(pool, backend):
    world = await World(backend).start()
    alice, bob = await world.owner(), await world.owner()
    for owner, meter_id in ((alice, "A-1"), (alice, "A-2"), (bob, "B-1")):
        await world.meter(owner, meter_id)
    await world.settle([("A-1", 3_000, 500)])
    await world.settle([("A-1", 1_000, 0), ("A-2", 2_500, 0), ("B-1", 900, 100)])
    await world.settle([("A-1", 0, 0)])                      # nothing new: no mint, no events of mints
    await world.settle([("B-1", 100, 5_000)])                # imports are never netted: 100 Wh more export
    await world.settle([("A-2", 1, 0), ("B-1", 10_000, 0)])
    indexer = Indexer(pool, backend, PROGRAMS)
    await indexer.sync_once()

    app = FastAPI()
    app.dependency_overrides[get_pool] = lambda: pool
    app.dependency_overrides[required_principal] = lambda: Principal("grid-operator", "operator", 2**62)
    install_error_handlers(app)
    app.include_router(router)
    total_wh = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agg") as client:
        for meter_id in ("A-1", "A-2", "B-1"):
            chain_wh = (await world.meter_account(meter_id)).settled_production_wh
            resp = await client.get(f"/api/chain/meters/{meter_id}/totals")
            assert resp.status_code == 200, resp.text
            t = resp.json()
            assert t["minted_wh"] == t["settled_wh"] == t["settled_production_wh"] == chain_wh > 0
            total_wh += t["minted_wh"]
        assert (await client.get("/api/chain/meters/NOPE/totals")).json()["error"]["reason"] == "no_chain_settlement"
    assert total_wh == 4_000 + 2_501 + 11_000
    mint = await backend.account(REGISTRY.token.mint_address())
    assert mint is not None and mint_supply(mint.data) == total_wh


async def test_failed_transaction_stores_nothing(pool, svm):
    world = await World(svm).start()
    owner = await world.owner()
    key = bytes(range(32))
    await _db_meter(pool, owner, "M-1", key)
    await world.meter(owner, "M-1", key)
    # The rotation runs (and logs its event) before the second instruction fails the tx.
    failed = await svm.send([REGISTRY.rotate_meter_key(owner.pubkey(), "M-1", bytes(32)),
                             REGISTRY.register_user(owner.pubkey(), 9)], [owner], check=False)
    assert not failed.ok and "MeterKeyRotated" in [e.name for e in REGISTRY.program.decode_events(failed.logs)]
    stranger = await funded(svm)
    over = await svm.send([REGISTRY.deactivate_meter(stranger.pubkey(), "M-1")], [stranger], check=False)
    assert not over.ok

    indexer = Indexer(pool, svm, PROGRAMS)
    await indexer.sync_once()
    assert await _events(pool, failed.signature) == [] and await _events(pool, over.signature) == []
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, device_pubkey FROM meters WHERE meter_id = 'M-1'")
        assert await repo.cursor(conn, str(REGISTRY.program_id)) == over.signature
    assert (row["status"], bytes(row["device_pubkey"])) == ("active", key)


async def test_paging_when_history_exceeds_the_page(pool, backend):
    world = await World(backend).start()
    for _ in range(9):
        kp = await funded(backend)
        await backend.send([REGISTRY.register_user(kp.pubkey(), PROSUMER)], [kp])
    indexer = Indexer(pool, backend, PROGRAMS, page_limit=3, batch_size=2)
    assert await indexer.sync_once() == 2 + 9
    names = [e[2] for e in await _events(pool)]
    assert names == ["RegistryInitialized", "TokenInitialized"] + ["UserRegistered"] * 9  # oldest first

    later = []
    for _ in range(4):
        kp = await funded(backend)
        later.append((await backend.send([REGISTRY.register_user(kp.pubkey(), PROSUMER)], [kp])).signature)
    assert await indexer.sync_once() == 4
    assert [e[0] for e in (await _events(pool))[-4:]] == later
    async with pool.acquire() as conn:
        assert await repo.cursor(conn, str(REGISTRY.program_id)) == later[-1]
        assert await repo.cursor(conn, str(REGISTRY.token.program_id)) == world.init.signature


class _Interrupted(LiteSvmBackend):
    """The real chain, except that one transaction is not served the first time it is
    asked for (a node that lists a signature before it serves it)."""

    def __init__(self, chain: LocalChain, missing: str) -> None:
        super().__init__(chain)
        self.missing: str | None = missing

    async def transaction(self, signature: str) -> TxRecord | None:
        if signature == self.missing:
            self.missing = None
            return None
        return await super().transaction(signature)


async def test_sync_stopped_between_batches_resumes_without_duplicates(pool, svm):
    await World(svm).start()
    signatures = []
    for _ in range(6):
        kp = await funded(svm)
        signatures.append((await svm.send([REGISTRY.register_user(kp.pubkey(), PROSUMER)], [kp])).signature)
    flaky = _Interrupted(svm.chain, missing=signatures[3])
    indexer = Indexer(pool, flaky, PROGRAMS, batch_size=2)
    with pytest.raises(IndexerError):
        await indexer.sync_once()
    # Batches [init, u0], [u1, u2] committed; [u3, u4] was not, so the cursor stops at u2.
    async with pool.acquire() as conn:
        assert await repo.cursor(conn, str(REGISTRY.program_id)) == signatures[2]
    assert len(await _events(pool)) == 2 + 3
    assert await indexer.sync_once() == 3
    events = await _events(pool)
    assert len(events) == len(set((s, i) for s, i, _, _ in events)) == 2 + 6


async def test_run_loop_indexes_as_the_chain_moves(pool, svm):
    world = await World(svm).start()
    hub = EventHub()
    sub = hub.subscribe()
    task = asyncio.create_task(Indexer(pool, svm, PROGRAMS, hub=hub, poll_s=0.02).run())
    try:
        for _ in range(2):
            assert (await asyncio.wait_for(sub.get(), 10))["name"] in ("RegistryInitialized", "TokenInitialized")
        owner = await world.owner()
        await world.meter(owner, "LIVE-1")
        seen = []
        while "MeterRegistered" not in seen:
            seen.append((await asyncio.wait_for(sub.get(), 10))["name"])
        assert seen == ["UserRegistered", "MeterRegistered"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_events_endpoint_filters_and_pages(pool, svm):
    world = await World(svm).start()
    owner = await world.owner()
    for meter_id in ("E-1", "E-2"):
        await world.meter(owner, meter_id)
    await world.settle([("E-1", 1_200, 0)])
    await world.settle([("E-1", 300, 0), ("E-2", 50, 0)])
    await Indexer(pool, svm, PROGRAMS).sync_once()

    app = FastAPI()
    app.dependency_overrides[get_pool] = lambda: pool
    app.dependency_overrides[required_principal] = lambda: Principal("grid-operator", "operator", 2**62)
    install_error_handlers(app)
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agg") as client:
        everything = (await client.get("/api/chain/events", params={"limit": 1000})).json()
        assert len(everything) == len(await _events(pool))
        assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)

        mints = (await client.get("/api/chain/events", params={"meter_id": "E-1", "name": "TokensMinted"})).json()
        assert [(m["program"], m["meter_id"], m["data"]["amount_wh"]) for m in mints] == [
            ("energy_token", "E-1", 300), ("energy_token", "E-1", 1_200)]
        assert mints[0]["data"]["destination"] == str(REGISTRY.token.token_account(owner.pubkey()))

        e1 = (await client.get("/api/chain/events", params={"meter_id": "E-1", "limit": 2})).json()
        assert [e["name"] for e in e1] == ["TokensMinted", "ProductionSettled"]
        older = (await client.get("/api/chain/events",
                                  params={"meter_id": "E-1", "limit": 2, "before_id": e1[-1]["id"]})).json()
        assert [e["name"] for e in older] == ["ReadingsSubmitted", "TokensMinted"]
        assert all(e["meter_id"] == "E-1" for e in e1 + older)

        assert (await client.get("/api/chain/events", params={"name": "NoSuchEvent"})).json() == []
        bad = await client.get("/api/chain/events", params={"limit": 0})
        assert bad.status_code == 422 and bad.json()["error"]["reason"] == "malformed_request"


async def test_event_indexes_do_not_depend_on_which_programs_are_indexed(svm):
    world = await World(svm).start()
    owner = await world.owner()
    await world.meter(owner, "D-1")
    settle = await world.settle([("D-1", 800, 0)])
    both = decode_transaction({p.program_id: p for p in PROGRAMS}, settle.logs)
    token_only = decode_transaction({REGISTRY.token.program_id: REGISTRY.token.program}, settle.logs)
    assert [(e.idx, e.name, e.meter_id) for e in both] == [
        (0, "ReadingsSubmitted", "D-1"), (1, "ProductionSettled", "D-1"), (2, "TokensMinted", "D-1")]
    # Without the registry's settlement there is nothing to attribute the mint to.
    assert [(e.idx, e.name, e.meter_id) for e in token_only] == [(2, "TokensMinted", None)]
    assert token_only[0].data == {"destination": str(REGISTRY.token.token_account(owner.pubkey())),
                                  "amount_wh": 800, "total_minted_wh": 800}
