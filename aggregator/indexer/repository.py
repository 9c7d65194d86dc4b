"""SQL for the indexer: cursors, stored chain events, their effects, and the read side.

Effects are applied only for events this call actually inserted (``RETURNING``), inside
the caller's transaction, so an event re-read after a crash or a cursor reset neither
stores twice nor applies twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from solders.pubkey import Pubkey

from aggregator.indexer import certificate_effects, trading_effects
from aggregator.indexer.decode import MINTED, SETTLED

log = logging.getLogger("aggregator.indexer")

DEACTIVATED = "MeterDeactivated"
USER_REGISTERED = "UserRegistered"
METER_REGISTERED = "MeterRegistered"
KEY_ROTATED = "MeterKeyRotated"

EVENT_COLUMNS = ("signature", "idx", "slot", "program_id", "program", "name", "meter_id", "data")


async def cursor(conn: asyncpg.Connection, address: str) -> str | None:
    return await conn.fetchval("SELECT signature FROM chain_cursors WHERE address = $1", address)


async def set_cursor(conn: asyncpg.Connection, address: str, signature: str, slot: int) -> None:
    await conn.execute(
        """INSERT INTO chain_cursors (address, signature, slot) VALUES ($1, $2, $3)
           ON CONFLICT (address) DO UPDATE SET signature = $2, slot = $3, updated_at = now()""",
        address, signature, slot,
    )


async def reset_cursors(conn: asyncpg.Connection) -> None:
    """Forget every cursor: the next sync re-reads all history the chain still serves
    (stored events are skipped by their unique key)."""
    await conn.execute("DELETE FROM chain_cursors")


async def insert_events(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> list[asyncpg.Record]:
    """Insert rows shaped as :data:`EVENT_COLUMNS` (data as a dict); return those that were new,
    in the order given."""
    if not rows:
        return []
    columns = list(zip(*rows))
    inserted = await conn.fetch(
        """INSERT INTO chain_events (signature, idx, slot, program_id, program, name, meter_id, data)
           SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                                $7::text[], $8::jsonb[])
           ON CONFLICT (signature, idx) DO NOTHING
           RETURNING id, signature, idx, slot, program_id, program, name, meter_id, data::text AS data""",
        columns[0], columns[1], columns[2], columns[3], columns[4], columns[5], columns[6],
        [json.dumps(d) for d in columns[7]],
    )
    return sorted(inserted, key=lambda r: r["id"])


async def apply_effects(conn: asyncpg.Connection, events: Sequence[asyncpg.Record]) -> None:
    """Make the database agree with what the chain did (the chain wins).

    * MeterDeactivated: the meter is revoked (ingest then refuses its readings).
    * MeterKeyRotated: the meter's device key becomes the chain's.
      Both only when the chain's owner of the meter (its ``MeterRegistered`` event) is the
      database's owner: a meter id registered on chain by someone else is another meter,
      and its events never touch this database's meter (logged as ``owner_mismatch``).
    * ProductionSettled / TokensMinted: the meter's chain-confirmed totals grow.
    * trading events: orders and trades (:mod:`aggregator.indexer.trading_effects`).
    * certificate events: certificates (:mod:`aggregator.indexer.certificate_effects`).
    Meters unknown to this database are left alone; other events have no effect.
    """
    for e in events:
        data = json.loads(e["data"])
        if e["program"] == "trading" and e["name"] in trading_effects.TRADING_EVENTS:
            await trading_effects.apply(conn, e, data)
        elif e["program"] == "certificates" and e["name"] in certificate_effects.CERTIFICATE_EVENTS:
            await certificate_effects.apply(conn, e, data)
        elif e["program"] == "registry" and e["name"] == USER_REGISTERED:
            await conn.execute("UPDATE users SET chain_state = 'active' WHERE wallet = $1 AND chain_state = 'pending'",
                               data["wallet"])
        elif e["program"] == "registry" and e["name"] == METER_REGISTERED:
            await _meter_registered(conn, e)
        elif e["name"] == DEACTIVATED:
            await _update_owned_meter(conn, e, "status = 'revoked'")
        elif e["name"] == KEY_ROTATED:
            await _update_owned_meter(conn, e, "device_pubkey = $2", bytes(Pubkey.from_string(data["device_key"])))
        elif e["name"] == SETTLED:
            await conn.execute(
                """INSERT INTO chain_meter_totals AS t (meter_id, owner_wallet, settled_production_wh,
                       settled_wh, settlements, last_signature, last_slot)
                   VALUES ($1, $2, $3, $4, 1, $5, $6)
                   ON CONFLICT (meter_id) DO UPDATE SET
                       owner_wallet = $2,
                       settled_production_wh = GREATEST(t.settled_production_wh, $3),
                       settled_wh = t.settled_wh + $4, settlements = t.settlements + 1,
                       last_signature = $5, last_slot = $6, updated_at = now()""",
                e["meter_id"], data["owner"], data["settled_production_wh"], data["minted_wh"],
                e["signature"], e["slot"],
            )
        elif e["name"] == MINTED and e["meter_id"] is not None:
            await conn.execute(
                """INSERT INTO chain_meter_totals AS t (meter_id, minted_wh, last_signature, last_slot)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (meter_id) DO UPDATE SET minted_wh = t.minted_wh + $2,
                       last_signature = $3, last_slot = $4, updated_at = now()""",
                e["meter_id"], data["amount_wh"], e["signature"], e["slot"],
            )


_SAME_OWNER = """
    m.meter_id = $1 AND u.id = m.owner_id
    AND u.wallet = (SELECT c.data->>'owner' FROM chain_events c
                    WHERE c.meter_id = $1 AND c.name = 'MeterRegistered' ORDER BY c.id DESC LIMIT 1)"""


async def _meter_registered(conn: asyncpg.Connection, e: asyncpg.Record) -> None:
    """The meter is on chain under the database's owner: it becomes active, and its mint
    batches that failed because it was not registered yet get fresh attempts, so readings
    that arrived before the registration mint once it lands."""
    activated = await conn.fetchval(
        f"UPDATE meters m SET chain_state = 'active' FROM users u WHERE {_SAME_OWNER} RETURNING m.meter_id",
        e["meter_id"])
    if activated is None:
        return
    await conn.execute(
        """UPDATE mint_batches SET state = 'claimed', attempts = 0, last_error = NULL, next_attempt_at = now(),
                                    updated_at = now()
           WHERE meter_id = $1 AND state = 'failed' AND last_error LIKE '%not registered on chain%'""",
        e["meter_id"])


async def _update_owned_meter(conn: asyncpg.Connection, e: asyncpg.Record, assignment: str, *args: object) -> None:
    """Apply a chain event's change to the database meter of the same id and owner only."""
    done = await conn.fetchval(
        f"UPDATE meters m SET {assignment} FROM users u WHERE {_SAME_OWNER} RETURNING m.meter_id",
        e["meter_id"], *args)
    if done is None and await conn.fetchval("SELECT 1 FROM meters WHERE meter_id = $1", e["meter_id"]):
        log.warning("chain event for a meter of another owner ignored", extra={"fields": {
            "reason": "owner_mismatch", "event": e["name"], "meter_id": e["meter_id"], "signature": e["signature"]}})


async def list_events(conn: asyncpg.Connection, meter_id: str | None, name: str | None, before_id: int | None,
                      limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, signature, idx, slot, program_id, program, name, meter_id, data::text AS data, indexed_at
           FROM chain_events
           WHERE ($1::text IS NULL OR meter_id = $1) AND ($2::text IS NULL OR name = $2)
             AND ($3::bigint IS NULL OR id < $3)
           ORDER BY id DESC LIMIT $4""",
        meter_id, name, before_id, limit,
    )


async def meter_totals(conn: asyncpg.Connection, meter_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT meter_id, owner_wallet, settled_production_wh, settled_wh, minted_wh, settlements,
                  last_signature, last_slot, updated_at
           FROM chain_meter_totals WHERE meter_id = $1""",
        meter_id,
    )
