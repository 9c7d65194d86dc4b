"""SQL for the trading read side (orders, order book, trades) and the matcher's records.

The rows are written by the indexer from the chain's events
(:mod:`aggregator.indexer.trading_effects`); nothing here writes orders or trades.
"""

from __future__ import annotations

import asyncpg

_ORDER_SELECT = """
SELECT order_address, market_address, chain_order_id AS order_id, owner_wallet, side, price_per_kwh_micro,
       energy_wh, filled_wh, energy_wh - filled_wh AS remaining_wh, status, expires_at, tx_signature,
       created_at AS placed_at, updated_at, closed_at
FROM orders
"""


async def list_orders(conn: asyncpg.Connection, *, owner: str | None, market: str | None, status: str | None,
                      limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        _ORDER_SELECT + """WHERE market_address IS NOT NULL
             AND ($1::text IS NULL OR owner_wallet = $1) AND ($2::text IS NULL OR market_address = $2)
             AND ($3::text IS NULL OR status = $3)
           ORDER BY id DESC LIMIT $4""",
        owner, market, status, limit)


async def order_book(conn: asyncpg.Connection, market: str) -> list[asyncpg.Record]:
    """Depth per (side, price): open orders not yet expired, summed by price level."""
    return await conn.fetch(
        """SELECT side, price_per_kwh_micro, sum(energy_wh - filled_wh)::bigint AS energy_wh, count(*) AS orders
           FROM orders
           WHERE market_address = $1 AND status IN ('open', 'partially_filled') AND closed_at IS NULL
             AND energy_wh > filled_wh AND (expires_at IS NULL OR expires_at > now())
           GROUP BY side, price_per_kwh_micro
           ORDER BY side, price_per_kwh_micro""",
        market)


async def list_trades(conn: asyncpg.Connection, *, market: str | None, owner: str | None,
                      limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, market_address, bid_order_id, ask_order_id, buyer_wallet, seller_wallet, energy_wh,
                  price_per_kwh_micro, value_micro, fee_micro, buyer_improvement_micro, tx_signature,
                  fill_index, slot, executed_at
           FROM trades
           WHERE market_address IS NOT NULL AND ($1::text IS NULL OR market_address = $1)
             AND ($2::text IS NULL OR buyer_wallet = $2 OR seller_wallet = $2)
           ORDER BY id DESC LIMIT $3""",
        market, owner, limit)


async def open_order_addresses(conn: asyncpg.Connection, market: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT order_address FROM orders
           WHERE market_address = $1 AND status IN ('open', 'partially_filled') AND closed_at IS NULL
           ORDER BY chain_order_id""",
        market)
    return [r["order_address"] for r in rows]


async def record_batch(conn: asyncpg.Connection, market: str, fills: int, energy_wh: int, ok: bool,
                       signature: str | None, error: str | None) -> None:
    await conn.execute(
        """INSERT INTO match_batches (market_address, fills, energy_wh, ok, tx_signature, error)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        market, fills, energy_wh, ok, signature, error)


async def list_batches(conn: asyncpg.Connection, market: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, market_address, fills, energy_wh, ok, tx_signature, error, created_at FROM match_batches
           WHERE ($1::text IS NULL OR market_address = $1) ORDER BY id DESC LIMIT $2""",
        market, limit)
