"""The live per-market channel: ``WS /api/markets/{market}/live``.

Messages (JSON), in order:

* ``{"type": "snapshot", "market", "seq": 0, "bids", "asks", "trades"}`` once, on
  subscribe: the book by price level (best first) and the newest trades (newest first).
* ``{"type": "book", "market", "seq", "changes": [{"side", "price_per_kwh_micro",
  "energy_wh", "orders"}]}``: the levels that changed since the previous book message;
  ``energy_wh`` 0 means the level is gone. ``seq`` counts the book messages of this
  subscription (snapshot 0, then 1, 2, ...), so applying the changes in order to the
  snapshot gives the book; a client that misses one re-subscribes.
* ``{"type": "trade", "market", ...}``: each settled fill of the market, once, oldest
  first, as indexed.

The channel follows the indexer (the chain's record): every trading event of the market
the indexer stores wakes it, and it re-reads the book and the trades from PostgreSQL, so
a burst of events becomes one delta and a subscriber that falls behind the event hub
loses nothing (the database is the record, the hub only the wake-up).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from fastapi import WebSocket

from aggregator.events.hub import EventHub
from aggregator.marketdata import repository as repo
from aggregator.trading import repository as trading_repo

Level = tuple[str, int]  # (side, price)
SNAPSHOT_TRADES = 50


async def book_levels(pool: asyncpg.Pool, market: str) -> dict[Level, tuple[int, int]]:
    async with pool.acquire() as conn:
        rows = await trading_repo.order_book(conn, market)
    return {(r["side"], r["price_per_kwh_micro"]): (r["energy_wh"], r["orders"]) for r in rows}


def level_json(side: str, price: int, energy: int, orders: int) -> dict[str, Any]:
    return {"side": side, "price_per_kwh_micro": price, "energy_wh": energy, "orders": orders}


def sides(levels: dict[Level, tuple[int, int]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bids = sorted(((p, v) for (s, p), v in levels.items() if s == "buy"), reverse=True)
    asks = sorted((p, v) for (s, p), v in levels.items() if s == "sell")
    return ([level_json("buy", p, e, n) for p, (e, n) in bids], [level_json("sell", p, e, n) for p, (e, n) in asks])


def changes(before: dict[Level, tuple[int, int]], after: dict[Level, tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            energy, orders = after.get(key, (0, 0))
            out.append(level_json(key[0], key[1], energy, orders))
    return out


def trade_json(market: str, r: asyncpg.Record) -> dict[str, Any]:
    return {"type": "trade", "market": market, **{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                                   for k, v in dict(r).items()}}


def concerns(event: dict[str, Any], market: str) -> bool:
    return (event.get("type") == "chain_event" and event.get("program") == "trading"
            and isinstance(event.get("data"), dict) and event["data"].get("market") == market)


async def serve(ws: WebSocket, pool: asyncpg.Pool, hub: EventHub, market: str,
                closed: asyncio.Future[None]) -> None:
    """Snapshot, then deltas and trades until the client goes (`closed` completes)."""
    sub = hub.subscribe()  # before the snapshot: nothing between the two is missed
    try:
        levels = await book_levels(pool, market)
        async with pool.acquire() as conn:
            recent = await repo.recent_trades(conn, market, SNAPSHOT_TRADES)
        last_trade = recent[0]["id"] if recent else 0
        bids, asks = sides(levels)
        await ws.send_json({"type": "snapshot", "market": market, "seq": 0, "bids": bids, "asks": asks,
                            "trades": [trade_json(market, r) for r in recent]})
        seq = 0
        while True:
            event = asyncio.ensure_future(sub.get())
            waiters: set[asyncio.Future[Any]] = {event, closed}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not event.done():
                event.cancel()
                return
            relevant = concerns(event.result(), market)
            while not sub.queue.empty():  # a burst of events: one re-read
                relevant = concerns(sub.queue.get_nowait(), market) or relevant
            if not relevant and not sub.dropped:
                continue
            sub.dropped = 0
            async with pool.acquire() as conn:
                fresh = await repo.trades_after(conn, market, last_trade)
            for r in fresh:
                await ws.send_json(trade_json(market, r))
                last_trade = r["id"]
            after = await book_levels(pool, market)
            delta = changes(levels, after)
            levels = after
            if delta:
                seq += 1
                await ws.send_json({"type": "book", "market": market, "seq": seq, "changes": delta})
    finally:
        sub.close()
