"""SQL for meters, their readings and their mint batches (read side)."""

from __future__ import annotations

import asyncpg

from aggregator.errors import Conflict, NotFound

_METER_SELECT = """
SELECT m.meter_id, u.wallet AS owner_wallet, encode(m.device_pubkey, 'hex') AS device_public_key,
       m.status, m.registered_at, m.last_seq, m.last_ts AS last_reading_at, m.accepted_count,
       m.chain_state, m.location, m.meter_type
FROM meters m JOIN users u ON u.id = m.owner_id
"""


async def create(conn: asyncpg.Connection, meter_id: str, owner_id: int, device_pubkey: bytes, *,
                 chain_state: str = "active", location: str | None = None, meter_type: str | None = None) -> None:
    try:
        await conn.execute(
            "INSERT INTO meters (meter_id, owner_id, device_pubkey, chain_state, location, meter_type) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            meter_id, owner_id, device_pubkey, chain_state, location, meter_type,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("meter_exists", f"meter {meter_id} is already registered") from exc


async def get(conn: asyncpg.Connection, meter_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(_METER_SELECT + " WHERE m.meter_id = $1", meter_id)
    if row is None:
        raise NotFound("unknown_meter", f"no meter {meter_id}")
    return row


async def list_meters(conn: asyncpg.Connection, owner_wallet: str | None, limit: int) -> list[asyncpg.Record]:
    if owner_wallet is None:
        return await conn.fetch(_METER_SELECT + " ORDER BY m.meter_id LIMIT $1", limit)
    return await conn.fetch(_METER_SELECT + " WHERE u.wallet = $1 ORDER BY m.meter_id LIMIT $2", owner_wallet, limit)


async def set_status(conn: asyncpg.Connection, meter_id: str, status: str) -> None:
    await conn.execute("UPDATE meters SET status = $2 WHERE meter_id = $1", meter_id, status)


async def readings(
    conn: asyncpg.Connection, meter_id: str, before_seq: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, meter_id, seq, reading_ts, interval_s, imp_wh, exp_wh, production_wh,
                  consumption_wh, power_w, transport, received_at, minted, mint_tx_signature
           FROM readings WHERE meter_id = $1 AND ($2::bigint IS NULL OR seq < $2)
           ORDER BY seq DESC LIMIT $3""",
        meter_id, before_seq, limit,
    )


async def mint_batches(conn: asyncpg.Connection, meter_id: str | None, limit: int,
                       owner_wallet: str | None = None) -> list[asyncpg.Record]:
    """Newest first; ``meter_id`` and ``owner_wallet`` (the meters of that wallet) filter."""
    return await conn.fetch(
        """SELECT id, meter_id, state, reading_count, production_wh, consumption_wh, minted_wh,
                  tx_signature, attempts, last_error, next_attempt_at, created_at, updated_at
           FROM mint_batches b WHERE ($1::text IS NULL OR meter_id = $1)
             AND ($3::text IS NULL OR meter_id IN (
                 SELECT m.meter_id FROM meters m JOIN users u ON u.id = m.owner_id WHERE u.wallet = $3))
           ORDER BY id DESC LIMIT $2""",
        meter_id, limit, owner_wallet,
    )


async def rejections(conn: asyncpg.Connection, meter_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT received_at, transport, seq, reason, detail FROM reading_rejections
           WHERE meter_id = $1 ORDER BY id DESC LIMIT $2""",
        meter_id, limit,
    )


async def gaps(conn: asyncpg.Connection, meter_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT from_seq, to_seq, reported_ts, received_at FROM meter_gaps
           WHERE meter_id = $1 ORDER BY to_seq DESC LIMIT $2""",
        meter_id, limit,
    )


async def reconciliation(conn: asyncpg.Connection, meter_id: str) -> asyncpg.Record:
    """Signed totals from the accepted readings against what was minted (docs/mint-rule.md)."""
    await get(conn, meter_id)
    return await conn.fetchrow(
        """SELECT m.meter_id, m.first_seq, m.last_seq, m.accepted_count AS accepted_readings,
                  coalesce(m.last_exp_wh - m.first_exp_wh, 0) AS signed_export_wh,
                  coalesce(m.last_imp_wh - m.first_imp_wh, 0) AS signed_import_wh,
                  coalesce((SELECT sum(b.minted_wh) FROM mint_batches b
                            WHERE b.meter_id = m.meter_id AND b.state = 'confirmed'), 0)::bigint AS minted_wh,
                  coalesce((SELECT sum(r.production_wh) FROM readings r
                            WHERE r.meter_id = m.meter_id AND NOT r.minted), 0)::bigint AS pending_wh,
                  coalesce((SELECT sum(r.production_wh) FROM readings r
                            WHERE r.meter_id = m.meter_id), 0)::bigint AS counted_wh,
                  (SELECT t.minted_wh FROM chain_meter_totals t WHERE t.meter_id = m.meter_id) AS chain_minted_wh,
                  (SELECT count(*) FROM mint_batches b
                   WHERE b.meter_id = m.meter_id AND b.state IN ('failed', 'conflict')) AS stuck_batches
           FROM meters m WHERE m.meter_id = $1""",
        meter_id,
    )
