"""SQL for market data, all from the indexed trades and orders."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

INTERVALS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


async def candles(conn: asyncpg.Connection, market: str, interval: str, since: datetime | None,
                  until: datetime | None, limit: int) -> list[asyncpg.Record]:
    """OHLC and volume per interval bucket (UTC-aligned) holding at least one trade, newest
    `limit` buckets, oldest first."""
    return await conn.fetch(
        """SELECT * FROM (
             SELECT date_bin($2::interval, executed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS start,
                    (array_agg(price_per_kwh_micro ORDER BY id))[1] AS open,
                    max(price_per_kwh_micro) AS high, min(price_per_kwh_micro) AS low,
                    (array_agg(price_per_kwh_micro ORDER BY id DESC))[1] AS close,
                    sum(energy_wh)::bigint AS volume_wh, sum(value_micro)::bigint AS value_micro, count(*) AS trades
             FROM trades
             WHERE market_address = $1 AND ($3::timestamptz IS NULL OR executed_at >= $3)
               AND ($4::timestamptz IS NULL OR executed_at < $4)
             GROUP BY 1 ORDER BY 1 DESC LIMIT $5) c
           ORDER BY start""",
        market, INTERVALS[interval], since, until, limit)


async def stats_24h(conn: asyncpg.Connection, market: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT
             (SELECT price_per_kwh_micro FROM trades WHERE market_address = $1 ORDER BY id DESC LIMIT 1) AS last,
             (array_agg(price_per_kwh_micro ORDER BY id))[1] AS open,
             max(price_per_kwh_micro) AS high, min(price_per_kwh_micro) AS low,
             COALESCE(sum(energy_wh), 0)::bigint AS volume_wh, COALESCE(sum(value_micro), 0)::bigint AS value_micro,
             count(*) AS trades,
             CASE WHEN sum(energy_wh) > 0 THEN div(sum(value_micro) * 1000, sum(energy_wh))::bigint END AS vwap
           FROM trades WHERE market_address = $1 AND executed_at >= now() - interval '24 hours'""",
        market)


async def recent_trades(conn: asyncpg.Connection, market: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, bid_order_id, ask_order_id, buyer_wallet, seller_wallet, energy_wh, price_per_kwh_micro,
                  value_micro, fee_micro, tx_signature, fill_index, executed_at
           FROM trades WHERE market_address = $1 ORDER BY id DESC LIMIT $2""",
        market, limit)


async def trades_after(conn: asyncpg.Connection, market: str, after_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, bid_order_id, ask_order_id, buyer_wallet, seller_wallet, energy_wh, price_per_kwh_micro,
                  value_micro, fee_micro, tx_signature, fill_index, executed_at
           FROM trades WHERE market_address = $1 AND id > $2 ORDER BY id""",
        market, after_id)
