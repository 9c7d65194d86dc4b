"""Order entry through the API: prepare, sign, relay, indexed.

The aggregator (uvicorn, on its in-process LiteSVM chain with the real programs, an
embedded PostgreSQL, the indexer polling every 20 ms) serves one continuous market;
TRADERS wallets, each with SOL and payment tokens, place ORDERS_PER_TRADER bids each,
concurrently, over HTTP on a real socket. One order is: ``POST
/api/actions/markets/{m}/order`` (the service builds the transaction), the wallet signs it,
``POST /api/transactions`` (relayed and confirmed), then ``GET /api/orders`` until the
indexer has it. Bids do not cross, so the matcher stays idle.

Metrics (JSON keys prefixed ``trading.order_entry.``):
  orders_per_s        orders indexed per second of wall time, all traders together
  latency_p50_s/_p95_s  prepare -> indexed, per order (retries included)
  conflicts_per_order   relays refused because another order took the market's next
                        order id between prepare and relay (the client prepares again)
  *_one_trader          the same with one trader alone (no queueing behind others)
  relay_p50_s           the relay call alone (chain execution and confirmation)

What limits it: every order of a market must carry the market's next order id (the
order account is the PDA of that id), so orders of a market enter the chain one at a
time. The service hands out successive ids to concurrent prepares and the relay holds an
order until the ids before it landed (:mod:`aggregator.actions.sequencer`), so traders no
longer collide (``conflicts_per_order`` 0; before the sequencer 1.6 retries per order
with 8 traders) but still queue behind each other. Each round trip costs CPU in one
Python process that runs service, chain, indexer and clients (about 2 ms per HTTP request
on an idle core; an order takes 4-6 requests with its index polls), and the benchmark
machine is shared. A successful relay wakes the indexer, so one trader alone waits
~20-40 ms for its order to be indexed.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
from typing import Any

import httpx
import uvicorn
from solders.keypair import Keypair
from solders.transaction import Transaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import MintToParams, create_associated_token_account, get_associated_token_address, mint_to

from aggregator.app import create_app
from aggregator.chain.connect import local_chain
from aggregator.config import ChainSettings, Settings
from aggregator.trading import local_desk
from devservers import free_tcp_port, scratch_postgres

TRADERS = 8
ORDERS_PER_TRADER = 40
PRICE = 50_000  # per kWh; bids only, so nothing crosses
ORDER_WH = 1_000

UNITS = {"trading.order_entry.orders_per_s": "orders/s", "trading.order_entry.latency_p50_s": "s",
         "trading.order_entry.latency_p95_s": "s", "trading.order_entry.conflicts_per_order": "retries",
         "trading.order_entry.relay_p50_s": "s", "trading.order_entry.traders": "wallets",
         "trading.order_entry.orders_per_s_one_trader": "orders/s", "trading.order_entry.latency_p50_s_one_trader": "s"}
GOALS = {"trading.order_entry.orders_per_s": "goal >= 1,000 (public GridTokenX 180)"}


def _sign(wallet: Keypair, encoded: str) -> str:
    tx = Transaction.from_bytes(base64.b64decode(encoded))
    tx.partial_sign([wallet], tx.message.recent_blockhash)
    return base64.b64encode(bytes(tx)).decode()


async def _indexed(http: httpx.AsyncClient, owner: str, market: str, address: str) -> None:
    """Poll the wallet's orders with backoff (5 ms doubling to 40 ms: the clients' polls must
    not become the server's load)."""
    pause = 0.005
    while True:
        resp = await http.get("/api/orders", params={"owner": owner, "market": market, "limit": 5})
        if any(o["order_address"] == address for o in resp.json()):
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.04)


async def _trader(http: httpx.AsyncClient, wallet: Keypair, market: str, latencies: list[float],
                  relays: list[float], conflicts: list[int]) -> None:
    owner = str(wallet.pubkey())
    for _ in range(ORDERS_PER_TRADER):
        started = time.perf_counter()
        while True:
            prepared = await http.post(f"/api/actions/markets/{market}/order", json={"account": owner},
                                       params={"side": "buy", "price_per_kwh_micro": PRICE, "energy_wh": ORDER_WH})
            prepared.raise_for_status()
            body: dict[str, Any] = prepared.json()
            relay_started = time.perf_counter()
            sent = await http.post("/api/transactions", json={"transaction": _sign(wallet, body["transaction"])})
            relays.append(time.perf_counter() - relay_started)
            if sent.status_code == 201:
                break
            if sent.status_code != 409:
                raise RuntimeError(f"relay refused: {sent.status_code} {sent.text}")
            conflicts.append(1)  # another trader's order took this id first: prepare again
        await _indexed(http, owner, market, body["order_address"])
        latencies.append(time.perf_counter() - started)


async def _run(dsn: str) -> dict[str, float]:
    chain = local_chain()
    desk = local_desk(chain)
    ref = desk.markets[0]
    wallets = [Keypair() for _ in range(TRADERS)]
    issuer = desk.payment_mint_authority
    for w in wallets:
        chain.local.fund(w.pubkey())
        account = get_associated_token_address(w.pubkey(), ref.payment_mint)
        chain.local.send([create_associated_token_account(w.pubkey(), w.pubkey(), ref.payment_mint),
                          mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=ref.payment_mint, dest=account,
                                               mint_authority=issuer.pubkey(), amount=10 ** 12))], [w, issuer])
    settings = Settings(database_url=dsn, log_level="WARNING", chain=ChainSettings(backend="litesvm"))
    settings.indexer_poll_s = 0.02
    settings.mint_sweep_s = 3600
    app = create_app(settings, chain_handle=chain, trading_desk=desk)
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        limits = httpx.Limits(max_connections=TRADERS * 2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as http:
            # One trader alone first (no one else takes its order ids), then all together.
            alone = await _phase(http, wallets[:1], str(ref.address))
            together = await _phase(http, wallets, str(ref.address))
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
    return {
        "trading.order_entry.traders": TRADERS,
        **together,
        "trading.order_entry.orders_per_s_one_trader": alone["trading.order_entry.orders_per_s"],
        "trading.order_entry.latency_p50_s_one_trader": alone["trading.order_entry.latency_p50_s"],
    }


async def _phase(http: httpx.AsyncClient, wallets: list[Keypair], market: str) -> dict[str, float]:
    latencies: list[float] = []
    relays: list[float] = []
    conflicts: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(_trader(http, w, market, latencies, relays, conflicts) for w in wallets))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20)
    return {
        "trading.order_entry.orders_per_s": round(len(latencies) / elapsed, 1),
        "trading.order_entry.latency_p50_s": round(statistics.median(latencies), 4),
        "trading.order_entry.latency_p95_s": round(q[18], 4),
        "trading.order_entry.conflicts_per_order": round(len(conflicts) / len(latencies), 3),
        "trading.order_entry.relay_p50_s": round(statistics.median(relays), 4),
    }


def run() -> dict[str, float]:
    with scratch_postgres("gtx-bench-orders-") as pg:
        return asyncio.run(_run(pg.dsn()))
