"""SQL for certificates: the meter's minted production in an interval (what an issuance
may claim) and the indexed certificates (read side)."""

from __future__ import annotations

import asyncpg

from aggregator.errors import NotFound

_SELECT = """
SELECT id, certificate_address AS address, meter_id, sequence, owner_wallet, issued_to_wallet, energy_wh,
       extract(epoch FROM period_start)::bigint AS start_at, extract(epoch FROM period_end)::bigint AS end_at,
       source, location, status, extract(epoch FROM expires_at)::bigint AS expires_at,
       extract(epoch FROM validated_at)::bigint AS validated_at, extract(epoch FROM closed_at)::bigint AS closed_at,
       revoke_reason, meter_certified_wh, issue_signature, last_signature, updated_at
FROM certificates
"""


async def reading_span(conn: asyncpg.Connection, meter_id: str) -> asyncpg.Record:
    """Unix times of the meter's first reading and of its newest minted reading (None if none)."""
    return await conn.fetchrow(
        """SELECT extract(epoch FROM min(reading_ts))::bigint AS first_at,
                  extract(epoch FROM max(reading_ts) FILTER (WHERE minted))::bigint AS last_minted_at
           FROM readings WHERE meter_id = $1""",
        meter_id,
    )


async def interval_production(conn: asyncpg.Connection, meter_id: str, start_at: int,
                              end_at: int) -> asyncpg.Record:
    """Production of the meter's readings stamped in ``(start_at, end_at]``: a reading's
    counter delta is the energy of the interval that ends at its timestamp, so these are
    the readings whose energy was produced within ``[start_at, end_at)``. Minted and
    unminted readings are counted apart (only minted ones are on the chain's counters)."""
    return await conn.fetchrow(
        """SELECT COALESCE(sum(production_wh) FILTER (WHERE minted), 0)::bigint AS minted_wh,
                  count(*) FILTER (WHERE NOT minted) AS unminted
           FROM readings
           WHERE meter_id = $1 AND reading_ts > to_timestamp($2::bigint) AND reading_ts <= to_timestamp($3::bigint)""",
        meter_id, start_at, end_at,
    )


async def list_certificates(conn: asyncpg.Connection, *, owner: str | None, meter_id: str | None,
                            status: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        _SELECT + """WHERE ($1::text IS NULL OR owner_wallet = $1) AND ($2::text IS NULL OR meter_id = $2)
                       AND ($3::text IS NULL OR status = $3)
                     ORDER BY id DESC LIMIT $4""",
        owner, meter_id, status, limit,
    )


async def get(conn: asyncpg.Connection, ident: str) -> asyncpg.Record:
    """By database id (digits) or certificate account address (base58, 32+ characters)."""
    if ident.isdigit() and len(ident) < 19:
        row = await conn.fetchrow(_SELECT + "WHERE id = $1", int(ident))
    else:
        row = await conn.fetchrow(_SELECT + "WHERE certificate_address = $1", ident)
    if row is None:
        raise NotFound("unknown_certificate", f"no certificate {ident}")
    return row
