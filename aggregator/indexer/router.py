"""REST: the chain events the indexer stored, and per-meter chain-confirmed totals.

These read what the chain did (not what the aggregator asked for), so a client can show
minted energy only once the chain confirms it.
"""

from __future__ import annotations

import json

import asyncpg
from fastapi import APIRouter, Query

from aggregator.deps import Pool
from aggregator.errors import NotFound
from aggregator.indexer import repository as repo
from aggregator.indexer.schemas import ChainEvent, ChainMeterTotals
from aggregator.meters import repository as meters_repo
from aggregator.users.tokens import Reader, require_privileged, require_wallet

router = APIRouter(tags=["chain"])


@router.get("/api/chain/events", response_model=list[ChainEvent])
async def list_chain_events(
    reader: Reader,
    pool: Pool,
    meter_id: str | None = Query(None, min_length=1, max_length=32),
    name: str | None = Query(None, min_length=1, max_length=64, description="event name, e.g. TokensMinted"),
    before_id: int | None = Query(None, ge=1, le=2**63 - 1, description="page back: events with a smaller id"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[ChainEvent]:
    """Indexed chain events, newest first: of one meter for its owner, of all for the operator and admins."""
    async with pool.acquire() as conn:
        if meter_id is None or reader.privileged:
            require_privileged(reader)
        else:
            require_wallet(reader, await _owner(conn, meter_id))
        rows = await repo.list_events(conn, meter_id, name, before_id, limit)
    return [ChainEvent(**{**dict(r), "data": json.loads(r["data"])}) for r in rows]


@router.get("/api/chain/meters/{meter_id}/totals", response_model=ChainMeterTotals)
async def chain_meter_totals(meter_id: str, reader: Reader, pool: Pool) -> ChainMeterTotals:
    """Energy the chain settled and GRID it minted for this meter (Wh; 1 Wh = 0.001 GRID)."""
    async with pool.acquire() as conn:
        row = await repo.meter_totals(conn, meter_id)
        if not reader.privileged:
            require_wallet(reader, await _owner(conn, meter_id) or (row["owner_wallet"] if row else None) or "")
        if row is None:
            raise NotFound("no_chain_settlement", f"the chain has settled nothing for meter {meter_id} yet")
    return ChainMeterTotals(**dict(row))


async def _owner(conn: asyncpg.Connection, meter_id: str) -> str:
    """The registered owner of ``meter_id`` ("" when no meter of that id is registered)."""
    try:
        return str((await meters_repo.get(conn, meter_id))["owner_wallet"])
    except NotFound:
        return ""
