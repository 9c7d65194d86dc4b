"""SQL for a wallet's history and statement: mint batches (the service's record), trades
and chain events (the indexer's record of what the chain did)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

#: One row per history entry: kind, time, signature, market, energy in/out, payment in/out,
#: and the fields a description is made from.
_HISTORY = """
WITH w AS (SELECT $1::text AS wallet)
SELECT * FROM (
  SELECT 'mint' AS kind, b.updated_at AS at, b.tx_signature AS signature, NULL::text AS market,
         b.minted_wh AS energy_wh, 0::bigint AS payment_micro, b.meter_id AS ref, NULL::text AS side,
         NULL::bigint AS price, b.id AS seq
  FROM mint_batches b JOIN meters m USING (meter_id) JOIN users u ON u.id = m.owner_id, w
  WHERE u.wallet = w.wallet AND b.state = 'confirmed' AND b.minted_wh > 0
  UNION ALL
  SELECT 'fill', t.executed_at, t.tx_signature, t.market_address,
         CASE WHEN t.buyer_wallet = w.wallet THEN t.energy_wh ELSE -t.energy_wh END,
         CASE WHEN t.buyer_wallet = w.wallet THEN -t.value_micro ELSE t.value_micro END,
         CASE WHEN t.buyer_wallet = w.wallet THEN t.seller_wallet ELSE t.buyer_wallet END,
         CASE WHEN t.buyer_wallet = w.wallet THEN 'buy' ELSE 'sell' END, t.price_per_kwh_micro, t.id
  FROM trades t, w
  WHERE t.market_address IS NOT NULL AND (t.buyer_wallet = w.wallet OR t.seller_wallet = w.wallet)
  UNION ALL
  SELECT 'fee', t.executed_at, t.tx_signature, t.market_address, 0, -t.fee_micro, NULL, 'sell',
         t.price_per_kwh_micro, t.id
  FROM trades t, w
  WHERE t.market_address IS NOT NULL AND t.seller_wallet = w.wallet AND t.fee_micro > 0
  UNION ALL
  SELECT 'refund', e.indexed_at, e.signature, e.data ->> 'market',
         CASE WHEN o.side = 'sell' THEN (e.data ->> 'refunded')::bigint ELSE 0 END,
         CASE WHEN o.side = 'sell' THEN 0 ELSE (e.data ->> 'refunded')::bigint END,
         e.name, o.side, (e.data ->> 'order_id')::bigint, e.id
  FROM chain_events e
  JOIN w ON e.data ->> 'owner' = w.wallet
  LEFT JOIN orders o ON o.market_address = e.data ->> 'market' AND o.chain_order_id = (e.data ->> 'order_id')::bigint
  WHERE e.data ? 'owner' AND e.program = 'trading'
    AND e.name IN ('OrderCancelled', 'OrderExpired', 'OrderClosed', 'ImprovementRefunded')
    AND (e.data ->> 'refunded')::bigint > 0
  UNION ALL
  SELECT 'certificate', e.indexed_at, e.signature, NULL, 0, 0, e.data ->> 'certificate',
         CASE WHEN e.name = 'CertificateIssued' THEN 'issued'
              WHEN e.name = 'CertificateRetired' THEN 'retired'
              WHEN e.data ->> 'to' = w.wallet THEN 'received' ELSE 'sent' END,
         (e.data ->> 'energy_wh')::bigint, e.id
  FROM chain_events e, w
  WHERE e.program = 'certificates' AND (
        (e.name IN ('CertificateIssued', 'CertificateRetired') AND e.data ? 'owner' AND e.data ->> 'owner' = w.wallet)
     OR (e.name = 'CertificateTransferred' AND (e.data ->> 'from' = w.wallet OR e.data ->> 'to' = w.wallet)))
) h
WHERE ($2::text IS NULL OR kind = $2) AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
"""


async def history(conn: asyncpg.Connection, wallet: str, *, kind: str | None, since: datetime | None,
                  until: datetime | None, limit: int) -> list[asyncpg.Record]:
    """Newest first."""
    return await conn.fetch(_HISTORY + " ORDER BY at DESC, seq DESC LIMIT $5", wallet, kind, since, until, limit)


async def statement(conn: asyncpg.Connection, wallet: str, unit: str, since: datetime | None,
                    until: datetime | None) -> list[asyncpg.Record]:
    """Sums per UTC day or month (`unit`), oldest first."""
    fmt = "YYYY-MM-DD" if unit == "day" else "YYYY-MM"
    return await conn.fetch(
        f"""SELECT to_char(date_trunc('{unit}', at AT TIME ZONE 'UTC'), '{fmt}') AS period,
               COALESCE(sum(energy_wh) FILTER (WHERE kind = 'mint'), 0)::bigint AS minted_wh,
               COALESCE(-sum(energy_wh) FILTER (WHERE kind = 'fill' AND side = 'sell'), 0)::bigint AS sold_wh,
               COALESCE(sum(energy_wh) FILTER (WHERE kind = 'fill' AND side = 'buy'), 0)::bigint AS bought_wh,
               COALESCE(sum(payment_micro) FILTER (WHERE kind = 'fill' AND side = 'sell'), 0)::bigint AS revenue_micro,
               COALESCE(-sum(payment_micro) FILTER (WHERE kind = 'fee'), 0)::bigint AS fees_micro,
               COALESCE(-sum(payment_micro) FILTER (WHERE kind = 'fill' AND side = 'buy'), 0)::bigint AS spent_micro,
               count(*) FILTER (WHERE kind = 'fill') AS trades,
               COALESCE(sum(price) FILTER (WHERE kind = 'certificate' AND side = 'issued'), 0)::bigint
                   AS certificates_issued_wh,
               COALESCE(sum(price) FILTER (WHERE kind = 'certificate' AND side = 'retired'), 0)::bigint
                   AS certificates_retired_wh
           FROM ({_HISTORY}) s GROUP BY 1 ORDER BY 1""",
        wallet, None, since, until)


async def production(conn: asyncpg.Connection, wallet: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM meters m JOIN users u ON u.id = m.owner_id WHERE u.wallet = $1) AS meters,
             COALESCE((SELECT sum(b.minted_wh) FROM mint_batches b JOIN meters m USING (meter_id)
                       JOIN users u ON u.id = m.owner_id
                       WHERE u.wallet = $1 AND b.state = 'confirmed'), 0)::bigint AS minted_wh,
             COALESCE(sum(r.production_wh), 0)::bigint AS pending_production_wh,
             COALESCE(sum(r.consumption_wh), 0)::bigint AS pending_consumption_wh
           FROM readings r JOIN meters m USING (meter_id) JOIN users u ON u.id = m.owner_id
           WHERE u.wallet = $1 AND NOT r.minted""",
        wallet)


async def open_orders(conn: asyncpg.Connection, wallet: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT order_address FROM orders
           WHERE owner_wallet = $1 AND closed_at IS NULL
             AND market_address IS NOT NULL""",
        wallet)
    return [r["order_address"] for r in rows]
