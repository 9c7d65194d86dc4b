"""SIGKILL the aggregator between submitting a mint and recording it, then restart it.

The aggregator runs as a real process (`python -m aggregator serve`) on a real database,
minting over JSON-RPC into tools/localnet (the real programs in LiteSVM), served from
this test process so the test can hold one RPC call: the aggregator's mint transaction
has been sent (and landed, or been dropped on the way) but its outcome is not recorded
when the process is killed. After a restart, and more readings, every signed watt-hour
of export is minted exactly once (docs/mint-rule.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, LocalChain, Registry, mint_supply, token_amount
from aggregator.chain.connect import deployed_programs
from tests.aggregator.agg_helpers import Actors, SimMeter
from tests.chain.chain_world import serve_localnet
from devservers import free_tcp_port
from tools.localnet import Localnet

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = Registry()
METERS = 3


class Gate:
    """Holds the first call of one RPC method until released; then runs it or drops it."""

    def __init__(self, localnet: Localnet, method: str, *, drop: bool) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        self.armed, self.drop = True, drop
        inner = localnet.methods[method]

        def gated(params: list):
            if self.armed:
                self.armed = False
                self.reached.set()
                self.release.wait(60)
                if self.drop:
                    raise ValueError("transaction dropped before it reached the cluster")
            return inner(params)

        localnet.methods[method] = gated


@contextmanager
def aggregator(dsn: str, rpc_url: str, oracle_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python -m aggregator serve` minting over JSON-RPC; its log goes to a file beside the key."""
    port = free_tcp_port()
    env = {**os.environ, "GTX_DATABASE_URL": dsn, "GTX_CHAIN_BACKEND": "rpc", "GTX_CHAIN_RPC_URL": rpc_url,
           "GTX_CHAIN_ORACLE_KEYPAIR": str(oracle_path), "GTX_MINT_BACKOFF_BASE_S": "0.1",
           "GTX_LOG_LEVEL": "WARNING"}
    log_path = oracle_path.with_name("aggregator.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()[-4000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).json().get("minter"):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "aggregator did not become ready"
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


def initialised_chain(tmp_path: Path) -> tuple[LocalChain, Path]:
    """The programs in LiteSVM with the registry and GRID mint initialised; the oracle's key file."""
    chain = LocalChain(deployed_programs())
    authority, oracle = chain.deployer(), chain.new_funded_keypair()
    chain.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                REGISTRY.token.initialize(authority.pubkey())], [authority])
    oracle_path = tmp_path / "oracle.json"
    oracle_path.write_text(json.dumps(list(bytes(oracle))))
    oracle_path.chmod(0o600)
    return chain, oracle_path


async def register(url: str, chain: LocalChain, n: int, prefix: str) -> tuple[list[Keypair], list[SimMeter]]:
    """`n` prosumers, each with a meter, registered through the REST API and on chain."""
    owners: list[Keypair] = []
    meters: list[SimMeter] = []
    async with httpx.AsyncClient(base_url=url) as client:
        actors = Actors(client)
        for i in range(n):
            owner = await actors.user(f"{prefix}-{i}")
            meter = await actors.meter(owner, f"{prefix.upper()}-{i}")
            chain.fund(owner.pubkey())
            chain.send([REGISTRY.register_user(owner.pubkey(), PROSUMER),
                        REGISTRY.register_meter(owner.pubkey(), meter.meter_id,
                                                bytes.fromhex(meter.public_key_hex), "lab")], [owner])
            owners.append(owner)
            meters.append(meter)
    return owners, meters


async def assert_minted_exactly(dsn: str, chain: LocalChain, owners: list[Keypair], expected: list[int]) -> None:
    """Each owner holds exactly its signed export; the supply and the ledger agree; every
    reading is minted, in a confirmed batch."""
    assert [token_amount(chain.account(REGISTRY.token.token_account(o.pubkey())).data) for o in owners] == expected
    assert mint_supply(chain.account(REGISTRY.token.mint_address()).data) == sum(expected)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE NOT minted OR mint_batch_id IS NULL") == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM readings r JOIN mint_batches b ON b.id = r.mint_batch_id WHERE b.state <> 'confirmed'"
        ) == 0
        assert await conn.fetchval("SELECT sum(minted_wh) FROM mint_batches WHERE state = 'confirmed'") == sum(expected)
    finally:
        await conn.close()


async def submit(url: str, messages: list[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url) as c:
        resp = await c.post("/api/meters/submit-readings", content=b"\n".join(messages),
                            headers={"content-type": "application/x-ndjson"})
    assert resp.status_code == 200 and resp.json()["rejected"] == 0, resp.text


async def wait_all_minted(dsn: str, timeout_s: float = 30) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while await conn.fetchval("SELECT count(*) FROM readings WHERE NOT minted"):
            assert time.monotonic() < deadline, await conn.fetch("SELECT id, state, last_error FROM mint_batches")
            time.sleep(0.05)
    finally:
        await conn.close()


@pytest.mark.parametrize("outcome", ["landed", "dropped"])
async def test_sigkill_between_submit_and_record_neither_loses_nor_duplicates(
        pg_dsn: str, tmp_path: Path, outcome: str) -> None:
    chain, oracle_path = initialised_chain(tmp_path)
    localnet = Localnet(chain)
    # "landed": the transaction executed, the confirmation never reached the aggregator.
    # "dropped": the transaction was lost on its way to the cluster.
    gate = Gate(localnet, "getTransaction" if outcome == "landed" else "sendTransaction",
                drop=outcome == "dropped")

    with serve_localnet(localnet=localnet) as rpc_url:
        with aggregator(pg_dsn, rpc_url, oracle_path) as (proc, url):
            owners, meters = await register(url, chain, METERS, "crash")
            await submit(url, [m.next(imp_delta=100, exp_delta=300 + 50 * i)
                               for i, m in enumerate(meters) for _ in range(20)])
            assert gate.reached.wait(30), "the minter never submitted"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        conn = await asyncpg.connect(pg_dsn)
        try:  # killed between submitting and recording: the batch's outcome is unknown
            assert "intent" in {r["state"] for r in await conn.fetch("SELECT state FROM mint_batches")}
        finally:
            await conn.close()
        gate.release.set()

        with aggregator(pg_dsn, rpc_url, oracle_path) as (_, url):
            await wait_all_minted(pg_dsn)
            await submit(url, [m.next(imp_delta=0, exp_delta=1_000) for m in meters for _ in range(5)])
            await wait_all_minted(pg_dsn)

    # Each meter: 19 intervals exporting (300 + 50 i) Wh, then 5 of 1,000 Wh (the first reading is the baseline).
    await assert_minted_exactly(pg_dsn, chain, owners, [19 * (300 + 50 * i) + 5 * 1_000 for i in range(METERS)])
    conn = await asyncpg.connect(pg_dsn)
    try:
        notes = {r["last_error"] for r in await conn.fetch("SELECT last_error FROM mint_batches")}
        assert ("reconciled: landed" in notes) == (outcome == "landed")
    finally:
        await conn.close()


@pytest.mark.parametrize("seed", [3, 8])
async def test_sigkills_at_random_moments_of_ingest_and_minting(pg_dsn: str, tmp_path: Path, seed: int) -> None:
    """Kill the aggregator at random moments while meters keep reporting; the client retries
    a batch whose response it never got, as the gateway does. Nothing is lost or minted twice."""
    rng = random.Random(seed)
    chain, oracle_path = initialised_chain(tmp_path)
    surplus = [0] * METERS
    unconfirmed: list[bytes] = []
    with serve_localnet(chain) as rpc_url:
        with aggregator(pg_dsn, rpc_url, oracle_path) as (_, url):
            owners, meters = await register(url, chain, METERS, "chaos")
        for _ in range(4):
            batch = []
            for i, m in enumerate(meters):
                for _ in range(rng.randrange(3, 12)):
                    imp, exp = rng.randrange(0, 100), rng.randrange(100, 600)
                    batch.append(m.next(imp_delta=imp, exp_delta=exp))
                    surplus[i] += exp if m.seq > 1 else 0
            unconfirmed += batch
            with aggregator(pg_dsn, rpc_url, oracle_path) as (proc, url):
                sending = asyncio.create_task(post(url, unconfirmed))
                await asyncio.sleep(rng.uniform(0.0, 0.4))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                if await sending:
                    unconfirmed = []  # the response arrived: stored for good
        with aggregator(pg_dsn, rpc_url, oracle_path) as (_, url):
            if unconfirmed:
                assert await post(url, unconfirmed)
            await wait_all_minted(pg_dsn)
    await assert_minted_exactly(pg_dsn, chain, owners, surplus)


async def post(url: str, messages: list[bytes]) -> bool:
    """Send a batch; True once the aggregator answered (re-sent readings it already stored
    come back as duplicates, nothing else may be refused), False if the connection died."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            resp = await c.post("/api/meters/submit-readings", content=b"\n".join(messages),
                                headers={"content-type": "application/x-ndjson"})
    except httpx.TransportError:
        return False
    assert resp.status_code == 200, resp.text
    assert {r["reason"] for r in resp.json()["rejections"]} <= {"duplicate_sequence"}, resp.text
    return True
