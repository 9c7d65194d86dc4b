"""SQL for the ingest path: meter state under row locks and set-based writes.

Accepted readings go through a per-connection temporary staging table filled with
COPY, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``; rejections are
COPYed straight into ``reading_rejections``. Nothing here is row-at-a-time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from aggregator.readings.rules import MeterState, Neighbours, Point

STAGE_TABLE = "readings_stage"
STAGE_COLUMNS = (
    "meter_id", "seq", "ts_s", "interval_s", "imp_wh", "exp_wh", "production_wh",
    "consumption_wh", "voltage_dv", "current_ma", "power_w", "pf_milli", "freq_chz",
    "firmware", "envelope", "transport",
)
REJECTION_COLUMNS = ("transport", "meter_id", "seq", "reason", "detail", "envelope")

_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} (
    meter_id TEXT, seq BIGINT, ts_s BIGINT, interval_s INT, imp_wh BIGINT, exp_wh BIGINT,
    production_wh BIGINT, consumption_wh BIGINT, voltage_dv BIGINT, current_ma BIGINT,
    power_w BIGINT, pf_milli INT, freq_chz BIGINT, firmware TEXT, envelope BYTEA, transport TEXT
) ON COMMIT DELETE ROWS
"""

_MOVE_STAGE = f"""
INSERT INTO readings (meter_id, seq, reading_ts, interval_s, imp_wh, exp_wh, production_wh,
    consumption_wh, voltage_dv, current_ma, power_w, pf_milli, freq_chz, firmware,
    envelope, transport)
SELECT meter_id, seq, to_timestamp(ts_s), interval_s, imp_wh, exp_wh, production_wh,
    consumption_wh, voltage_dv, current_ma, power_w, pf_milli, freq_chz, firmware,
    envelope, transport
FROM {STAGE_TABLE}
ON CONFLICT (meter_id, seq) DO NOTHING
RETURNING id, meter_id, seq
"""


async def prepare_connection(conn: asyncpg.Connection) -> None:
    """Pool ``init`` hook: every connection gets its own staging table."""
    await conn.execute(_CREATE_STAGE)


async def fetch_keys(conn: asyncpg.Connection, meter_ids: Sequence[str]) -> dict[str, bytes]:
    """Registered device keys (no lock): used to verify signatures before locking."""
    rows = await conn.fetch(
        "SELECT meter_id, device_pubkey FROM meters WHERE meter_id = ANY($1::text[])", list(meter_ids)
    )
    return {r["meter_id"]: bytes(r["device_pubkey"]) for r in rows}


async def lock_states(conn: asyncpg.Connection, meter_ids: Sequence[str]) -> dict[str, MeterState]:
    """Lock the meters' rows (in id order, so concurrent batches cannot deadlock)."""
    rows = await conn.fetch(
        """SELECT meter_id, device_pubkey, status, max_power_w,
                  first_seq, extract(epoch FROM first_ts)::bigint AS first_ts_s, first_imp_wh, first_exp_wh,
                  last_seq, extract(epoch FROM last_ts)::bigint AS last_ts_s, last_imp_wh, last_exp_wh
           FROM meters WHERE meter_id = ANY($1::text[]) ORDER BY meter_id FOR UPDATE""",
        sorted(meter_ids),
    )
    return {
        r["meter_id"]: MeterState(
            meter_id=r["meter_id"],
            device_pubkey=bytes(r["device_pubkey"]),
            status=r["status"],
            max_power_w=r["max_power_w"],
            first=_point(r, "first"),
            last=_point(r, "last"),
        )
        for r in rows
    }


def _point(r: asyncpg.Record, prefix: str) -> Point | None:
    if r[f"{prefix}_seq"] is None:
        return None
    return Point(r[f"{prefix}_seq"], r[f"{prefix}_ts_s"], r[f"{prefix}_imp_wh"], r[f"{prefix}_exp_wh"])


_NEIGHBOURS = """
SELECT q.meter_id, q.seq,
       b.seq AS b_seq, b.ts_s AS b_ts_s, b.imp_wh AS b_imp_wh, b.exp_wh AS b_exp_wh,
       a.seq AS a_seq, a.ts_s AS a_ts_s, a.imp_wh AS a_imp_wh, a.exp_wh AS a_exp_wh
FROM unnest($1::text[], $2::bigint[]) AS q(meter_id, seq)
LEFT JOIN LATERAL (
    SELECT r.seq, extract(epoch FROM r.reading_ts)::bigint AS ts_s, r.imp_wh, r.exp_wh FROM readings r
    WHERE r.meter_id = q.meter_id AND r.seq < q.seq ORDER BY r.seq DESC LIMIT 1) b ON true
LEFT JOIN LATERAL (
    SELECT r.seq, extract(epoch FROM r.reading_ts)::bigint AS ts_s, r.imp_wh, r.exp_wh FROM readings r
    WHERE r.meter_id = q.meter_id AND r.seq >= q.seq ORDER BY r.seq LIMIT 1) a ON true
"""


async def neighbours(
    conn: asyncpg.Connection, pairs: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Neighbours]:
    """For late readings (meter, seq below its last): the stored readings around each.

    ``after`` is the stored reading with the same or the next higher sequence number, so
    a stored duplicate shows as ``after.seq == seq``. One round trip, index range scans."""
    if not pairs:
        return {}
    rows = await conn.fetch(_NEIGHBOURS, [p[0] for p in pairs], [p[1] for p in pairs])
    return {(r["meter_id"], r["seq"]): Neighbours(_point(r, "b"), _point(r, "a")) for r in rows}


async def insert_readings(
    conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]
) -> list[asyncpg.Record]:
    """COPY into staging, then one set-based insert; returns (id, meter_id, seq) stored."""
    if not rows:
        return []
    await conn.copy_records_to_table(STAGE_TABLE, records=rows, columns=STAGE_COLUMNS)
    return await conn.fetch(_MOVE_STAGE)


async def update_states(conn: asyncpg.Connection, states: Sequence[MeterState]) -> None:
    """Persist the first and last accepted readings of every meter that accepted readings."""
    if not states:
        return
    firsts = [s.first for s in states]
    lasts = [s.last for s in states]
    await conn.execute(
        """UPDATE meters m SET first_seq = u.first_seq, first_ts = to_timestamp(u.first_ts_s),
                  first_imp_wh = u.first_imp_wh, first_exp_wh = u.first_exp_wh,
                  last_seq = u.seq, last_ts = to_timestamp(u.ts_s),
                  last_imp_wh = u.imp_wh, last_exp_wh = u.exp_wh,
                  accepted_count = m.accepted_count + u.n
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                       $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
                AS u(meter_id, seq, ts_s, imp_wh, exp_wh, n, first_seq, first_ts_s, first_imp_wh, first_exp_wh)
           WHERE m.meter_id = u.meter_id""",
        [s.meter_id for s in states],
        [p.seq if p else None for p in lasts],
        [p.ts_s if p else None for p in lasts],
        [p.imp_wh if p else None for p in lasts],
        [p.exp_wh if p else None for p in lasts],
        [s.accepted_in_batch for s in states],
        [p.seq if p else None for p in firsts],
        [p.ts_s if p else None for p in firsts],
        [p.imp_wh if p else None for p in firsts],
        [p.exp_wh if p else None for p in firsts],
    )


#: Advisory lock key of rejection pruning: one transaction prunes at a time; the others
#: skip (pg_try_advisory_xact_lock), so pruning never waits and never deadlocks.
_PRUNE_LOCK = 0x67747872656A  # "gtxrej"


async def insert_rejections(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]], *,
                            keep_per_kind: int, keep_unregistered: int) -> int:
    """Store rejections, then bound what is kept; return how many old rows were pruned.

    Kept: the newest ``keep_per_kind`` rows of each (transport, meter id, reason), so a
    flood of one kind (forged signatures) cannot push out a meter's other rejections; and
    the newest ``keep_unregistered`` rows of meter ids no meter is registered under
    (anyone can make those up). Pruned rows are still counted in ``gtx_readings_total``.
    Must run inside the caller's transaction (the advisory lock is transaction-scoped).
    """
    if not rows:
        return 0
    await conn.copy_records_to_table("reading_rejections", records=rows, columns=REJECTION_COLUMNS)
    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PRUNE_LOCK):
        return 0  # another batch is pruning now; the next one prunes what this one added
    kinds = sorted({(r[0], r[1] or "", r[3]) for r in rows})
    pruned = 0
    status = await conn.execute(
        """DELETE FROM reading_rejections WHERE id IN (
               SELECT id FROM (
                   SELECT r.id, row_number() OVER (PARTITION BY r.transport, r.meter_id, r.reason
                                                   ORDER BY r.id DESC) AS n
                   FROM reading_rejections r
                   JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(transport, meter_id, reason)
                     ON r.transport = k.transport AND coalesce(r.meter_id, '') = k.meter_id AND r.reason = k.reason
               ) ranked WHERE n > $4)""",
        [k[0] for k in kinds], [k[1] for k in kinds], [k[2] for k in kinds], keep_per_kind)
    pruned += int(status.split()[-1])
    status = await conn.execute(
        """DELETE FROM reading_rejections WHERE id IN (
               SELECT r.id FROM reading_rejections r
               WHERE NOT EXISTS (SELECT 1 FROM meters m WHERE m.meter_id = r.meter_id)
               ORDER BY r.id DESC OFFSET $1)""",
        keep_unregistered)
    return pruned + int(status.split()[-1])


async def insert_gaps(conn: asyncpg.Connection, rows: Sequence[tuple[str, int, int, int | None, bytes]]) -> None:
    """Record declared gaps; a re-sent gap record is idempotent."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO meter_gaps (meter_id, from_seq, to_seq, reported_ts, envelope)
           SELECT g.meter_id, g.from_seq, g.to_seq,
                  CASE WHEN g.ts_s > 0 THEN to_timestamp(g.ts_s) END, g.envelope
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bytea[])
                AS g(meter_id, from_seq, to_seq, ts_s, envelope)
           ON CONFLICT (meter_id, from_seq, to_seq) DO NOTHING""",
        [g[0] for g in rows], [g[1] for g in rows], [g[2] for g in rows],
        [g[3] for g in rows], [g[4] for g in rows],
    )
