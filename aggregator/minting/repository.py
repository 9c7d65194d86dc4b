"""SQL for mint batches: claiming unminted readings and moving batches between states.

States::

    claimed --record_intent--> intent --confirm--> confirmed
       ^                         |
       +------- failure ---------+ (attempts < max; next_attempt_at = now + backoff)
                                 +--> failed    (attempts exhausted: alert)
                                 +--> conflict  (reconcile found foreign counter moves)

Zero-energy batches (e.g. a meter's first, baseline reading) need no chain call and
are created directly as ``confirmed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from aggregator.errors import Conflict, NotFound

BATCH_COLUMNS = """id, meter_id, state, reading_count, first_reading_id, last_reading_id,
    production_wh, consumption_wh, chain_production_before_wh, chain_consumption_before_wh,
    chain_settled_before_wh, attempts, next_attempt_at, tx_signature, minted_wh, last_error"""

# The owner budget ($3, 0: none): batches that cost a chain transaction (non-zero energy)
# created for one owner's meters in the last hour, counting those this claim would add.
_PICK = """
WITH cand AS (
    SELECT mt.meter_id, mt.owner_id FROM meters mt
    WHERE EXISTS (SELECT 1 FROM readings r
                  WHERE r.meter_id = mt.meter_id AND NOT r.minted AND r.mint_batch_id IS NULL)
      AND NOT EXISTS (SELECT 1 FROM mint_batches b
                      WHERE b.meter_id = mt.meter_id AND b.state IN ('claimed', 'intent'))
), used AS (
    SELECT mo.owner_id, count(*) AS n FROM mint_batches b JOIN meters mo ON mo.meter_id = b.meter_id
    WHERE $3 > 0 AND b.created_at > now() - interval '1 hour' AND (b.production_wh <> 0 OR b.consumption_wh <> 0)
      AND mo.owner_id IN (SELECT owner_id FROM cand)
    GROUP BY mo.owner_id
), ranked AS (
    SELECT c.meter_id, coalesce(u.n, 0) + row_number() OVER (PARTITION BY c.owner_id ORDER BY c.meter_id) AS k
    FROM cand c LEFT JOIN used u ON u.owner_id = c.owner_id
), m AS (
    SELECT mt.meter_id FROM meters mt JOIN ranked ON ranked.meter_id = mt.meter_id
    WHERE $3 = 0 OR ranked.k <= $3
    ORDER BY mt.meter_id
    LIMIT $2
    FOR UPDATE OF mt SKIP LOCKED
)
SELECT m.meter_id, array_agg(p.id ORDER BY p.id) AS ids,
       sum(p.production_wh)::bigint AS production_wh, sum(p.consumption_wh)::bigint AS consumption_wh
FROM m CROSS JOIN LATERAL (
    SELECT r.id, r.production_wh, r.consumption_wh FROM readings r
    WHERE r.meter_id = m.meter_id AND NOT r.minted AND r.mint_batch_id IS NULL
    ORDER BY r.id LIMIT $1
) p
GROUP BY m.meter_id
"""


async def claim(conn: asyncpg.Connection, max_readings: int, max_meters: int,
                owner_batches_per_hour: int = 0) -> list[asyncpg.Record]:
    """Aggregate unminted readings per meter (<= max_readings each) into new batches.

    Must run inside a transaction. Meters locked by a concurrent ingest are skipped
    this round (SKIP LOCKED) rather than waited for. An owner whose meters had
    ``owner_batches_per_hour`` paid batches in the last hour gets none until the hour
    rolls on: the oracle pays each mint's fee, and meters cost nothing to register, so
    the budget caps what one owner can make it spend. Nothing is lost meanwhile: the
    readings wait and go into the next batch (up to ``max_readings`` each).
    """
    picked = await conn.fetch(_PICK, max_readings, max_meters, owner_batches_per_hour)
    if not picked:
        return []
    batches = await conn.fetch(
        f"""INSERT INTO mint_batches (meter_id, state, reading_count, first_reading_id,
                last_reading_id, production_wh, consumption_wh, minted_wh)
            SELECT meter_id, CASE WHEN prod = 0 AND cons = 0 THEN 'confirmed' ELSE 'claimed' END,
                   n, first_id, last_id, prod, cons, CASE WHEN prod = 0 AND cons = 0 THEN 0 END
            FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
                 AS t(meter_id, n, first_id, last_id, prod, cons)
            RETURNING {BATCH_COLUMNS}""",
        [p["meter_id"] for p in picked],
        [len(p["ids"]) for p in picked],
        [p["ids"][0] for p in picked],
        [p["ids"][-1] for p in picked],
        [p["production_wh"] for p in picked],
        [p["consumption_wh"] for p in picked],
    )
    batch_of = {b["meter_id"]: b for b in batches}
    reading_ids: list[int] = []
    batch_ids: list[int] = []
    for p in picked:
        reading_ids += p["ids"]
        batch_ids += [batch_of[p["meter_id"]]["id"]] * len(p["ids"])
    await conn.execute(
        """UPDATE readings r SET mint_batch_id = u.batch_id,
                  minted = (SELECT b.state = 'confirmed' FROM mint_batches b WHERE b.id = u.batch_id)
           FROM unnest($1::bigint[], $2::bigint[]) AS u(reading_id, batch_id)
           WHERE r.id = u.reading_id""",
        reading_ids, batch_ids,
    )
    return list(batches)


async def get(conn: asyncpg.Connection, batch_id: int, *, lock: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {BATCH_COLUMNS} FROM mint_batches WHERE id = $1" + (" FOR UPDATE" if lock else ""), batch_id
    )
    if row is None:
        raise NotFound("unknown_batch", f"no mint batch {batch_id}")
    return row


async def due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {BATCH_COLUMNS} FROM mint_batches
            WHERE state = 'claimed' AND next_attempt_at <= now() ORDER BY id LIMIT $1""",
        limit,
    )


async def in_state(conn: asyncpg.Connection, state: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {BATCH_COLUMNS} FROM mint_batches WHERE state = $1 ORDER BY id", state)


async def transition(
    conn: asyncpg.Connection, batch_id: int, expected: Sequence[str], new_state: str, **values: object
) -> asyncpg.Record:
    """Move a batch from one of ``expected`` states to ``new_state`` (compare-and-set)."""
    sets = ", ".join(f"{k} = ${i + 4}" for i, k in enumerate(values))
    row = await conn.fetchrow(
        f"""UPDATE mint_batches SET state = $2, updated_at = now(){', ' + sets if sets else ''}
            WHERE id = $1 AND state = ANY($3::text[])
            RETURNING {BATCH_COLUMNS}""",
        batch_id, new_state, list(expected), *values.values(),
    )
    if row is None:
        current = await get(conn, batch_id)
        raise Conflict("bad_batch_state", f"batch {batch_id} is {current['state']}, expected {list(expected)}")
    return row


async def release(conn: asyncpg.Connection, batch_id: int, note: str) -> asyncpg.Record:
    """``intent`` -> ``claimed``, due now, without counting the attempt."""
    row = await conn.fetchrow(
        f"""UPDATE mint_batches SET state = 'claimed', attempts = greatest(attempts - 1, 0),
                last_error = $2, next_attempt_at = now(), updated_at = now()
            WHERE id = $1 AND state = 'intent' RETURNING {BATCH_COLUMNS}""",
        batch_id, note)
    if row is None:
        current = await get(conn, batch_id)
        raise Conflict("bad_batch_state", f"batch {batch_id} is {current['state']}, expected ['intent']")
    return row


async def record_intents(
    conn: asyncpg.Connection, intents: Sequence[tuple[int, int, int, int]]
) -> list[asyncpg.Record]:
    """``claimed`` -> ``intent`` for each (batch id, chain production, consumption, settled
    before), counting the attempt; batches no longer ``claimed`` are left out of the result."""
    return await conn.fetch(
        f"""UPDATE mint_batches b SET state = 'intent', updated_at = now(), attempts = b.attempts + 1,
                chain_production_before_wh = u.p, chain_consumption_before_wh = u.c, chain_settled_before_wh = u.s
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, p, c, s)
            WHERE b.id = u.id AND b.state = 'claimed'
            RETURNING {', '.join('b.' + c.strip() for c in BATCH_COLUMNS.split(','))}""",
        *map(list, zip(*intents)))


async def confirm_many(conn: asyncpg.Connection, outcomes: Sequence[tuple[int, str | None, int, str | None]]
                       ) -> list[asyncpg.Record]:
    """``intent`` -> ``confirmed`` for each (batch id, signature, minted Wh, note), and their
    readings marked minted; must run inside a transaction. Raises if any batch was not in ``intent``."""
    ids, signatures, minted, notes = map(list, zip(*outcomes))
    rows = await conn.fetch(
        f"""UPDATE mint_batches b SET state = 'confirmed', updated_at = now(), tx_signature = u.sig,
                minted_wh = u.minted, last_error = u.note
            FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS u(id, sig, minted, note)
            WHERE b.id = u.id AND b.state = 'intent'
            RETURNING {', '.join('b.' + c.strip() for c in BATCH_COLUMNS.split(','))}""",
        ids, signatures, minted, notes)
    if len(rows) != len(ids):
        done = {r["id"] for r in rows}
        missing = next(i for i in ids if i not in done)
        current = await get(conn, missing)
        raise Conflict("bad_batch_state", f"batch {missing} is {current['state']}, expected ['intent']")
    await conn.execute(
        """UPDATE readings r SET minted = true, mint_tx_signature = u.sig
           FROM unnest($1::bigint[], $2::text[]) AS u(id, sig) WHERE r.mint_batch_id = u.id""",
        ids, signatures)
    return rows


async def owner_wallets(conn: asyncpg.Connection, meter_ids: Sequence[str]) -> dict[str, str]:
    """The database owner's wallet (base58) of each meter: the one the chain's must match."""
    rows = await conn.fetch(
        """SELECT m.meter_id, u.wallet FROM meters m JOIN users u ON u.id = m.owner_id
           WHERE m.meter_id = ANY($1::text[])""", list(meter_ids))
    return {r["meter_id"]: r["wallet"] for r in rows}
