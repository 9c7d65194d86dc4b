"""REST: register a meter (owner-signed), change its status, list meters/readings/mints."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Query

from aggregator.deps import AppServices, Pool
from aggregator.errors import AuthError, Forbidden
from aggregator.meters import repository as repo
from aggregator.meters.schemas import (
    Gap,
    Meter,
    MintBatch,
    Reading,
    Reconciliation,
    RegisterMeter,
    Rejection,
    SetMeterStatus,
)
from aggregator.onboarding import register_meter_tx
from aggregator.users import challenge
from aggregator.users import repository as users_repo
from aggregator.users.tokens import Principal, Reader, require_wallet

router = APIRouter(tags=["meters"])


async def readable_meter(conn: asyncpg.Connection, reader: Principal, meter_id: str) -> asyncpg.Record:
    """The meter (404 ``unknown_meter``) if ``reader`` may read its data (else 403 ``not_yours``)."""
    meter = await repo.get(conn, meter_id)
    require_wallet(reader, meter["owner_wallet"])
    return meter


@router.post("/api/meters", response_model=Meter, status_code=201)
async def register_meter(body: RegisterMeter, pool: Pool, services: AppServices) -> Meter:
    """The meter row (``pending`` when a chain is served) and, then, the ``register_meter``
    transaction for the owner's wallet to sign and relay (``aggregator.onboarding``)."""
    chain = services.chain_handle
    blockhash = await chain.backend.latest_blockhash() if chain is not None else None
    async with pool.acquire() as conn:
        await challenge.consume(
            conn, wallet=body.owner_wallet, purpose="register_meter", nonce=body.nonce,
            signature_b58=body.signature,
            fields={"meter_id": body.meter_id, "device_public_key": body.device_public_key},
        )
    async with pool.acquire() as conn, conn.transaction():
        owner = await users_repo.get(conn, body.owner_wallet)
        if owner["role"] != "prosumer":
            # GRID is minted for exported energy: only prosumers own minting meters (as on chain).
            raise Forbidden("not_prosumer", "only a prosumer may register a meter")
        await repo.create(conn, body.meter_id, owner["id"], bytes.fromhex(body.device_public_key),
                          chain_state="pending" if chain is not None else "active", location=body.location,
                          meter_type=body.meter_type)
        row = dict(await repo.get(conn, body.meter_id))
    tx = None
    if chain is not None and blockhash is not None:
        tx = register_meter_tx(chain.registry, body.owner_wallet, body.meter_id, bytes.fromhex(body.device_public_key),
                               body.location or "", blockhash)
    return Meter(**row, registration_tx=tx)


@router.post("/api/meters/{meter_id}/status", response_model=Meter)
async def set_meter_status(meter_id: str, body: SetMeterStatus, pool: Pool) -> Meter:
    async with pool.acquire() as conn:
        await challenge.consume(
            conn, wallet=body.owner_wallet, purpose="set_meter_status", nonce=body.nonce,
            signature_b58=body.signature, fields={"meter_id": meter_id, "status": body.status},
        )
    async with pool.acquire() as conn, conn.transaction():
        meter = await repo.get(conn, meter_id)
        if meter["owner_wallet"] != body.owner_wallet:
            raise AuthError("not_owner", "only the meter's owner can change its status")
        await repo.set_status(conn, meter_id, body.status)
        return Meter(**dict(await repo.get(conn, meter_id)))


@router.get("/api/meters", response_model=list[Meter])
async def list_meters(
    reader: Reader, pool: Pool, owner: str | None = Query(None, max_length=44), limit: int = Query(100, ge=1, le=1000)
) -> list[Meter]:
    """Meters of ``owner`` (default: the reader's own; every meter for the operator and admins)."""
    if owner is not None:
        require_wallet(reader, owner)
    elif not reader.privileged:
        owner = reader.wallet
    async with pool.acquire() as conn:
        return [Meter(**dict(r)) for r in await repo.list_meters(conn, owner, limit)]


@router.get("/api/meters/{meter_id}", response_model=Meter)
async def get_meter(meter_id: str, reader: Reader, pool: Pool) -> Meter:
    async with pool.acquire() as conn:
        return Meter(**dict(await readable_meter(conn, reader, meter_id)))


@router.get("/api/meters/{meter_id}/readings", response_model=list[Reading])
async def list_readings(
    meter_id: str,
    reader: Reader,
    pool: Pool,
    before_seq: int | None = Query(None, ge=1, le=2**63 - 1),
    limit: int = Query(100, ge=1, le=1000),
) -> list[Reading]:
    async with pool.acquire() as conn:
        await readable_meter(conn, reader, meter_id)
        return [Reading(**dict(r)) for r in await repo.readings(conn, meter_id, before_seq, limit)]


@router.get("/api/meters/{meter_id}/reconciliation", response_model=Reconciliation)
async def reconcile_meter(meter_id: str, reader: Reader, pool: Pool) -> Reconciliation:
    """Signed energy against GRID for one meter: what an auditor checks (docs/mint-rule.md)."""
    async with pool.acquire() as conn:
        await readable_meter(conn, reader, meter_id)
        r = dict(await repo.reconciliation(conn, meter_id))
    counted = r.pop("counted_wh")
    due = r["signed_export_wh"]
    return Reconciliation(**r, due_wh=due, difference_wh=due - r["minted_wh"],
                          consistent=counted == due and due == r["minted_wh"] + r["pending_wh"])


@router.get("/api/meters/{meter_id}/rejections", response_model=list[Rejection])
async def list_rejections(
    meter_id: str, reader: Reader, pool: Pool, limit: int = Query(100, ge=1, le=1000)
) -> list[Rejection]:
    """Why a meter's readings were refused (newest first): what an installer checks first."""
    async with pool.acquire() as conn:
        await readable_meter(conn, reader, meter_id)
        return [Rejection(**dict(r)) for r in await repo.rejections(conn, meter_id, limit)]


@router.get("/api/meters/{meter_id}/gaps", response_model=list[Gap])
async def list_gaps(meter_id: str, reader: Reader, pool: Pool,
                    limit: int = Query(100, ge=1, le=1000)) -> list[Gap]:
    """Sequence ranges the meter declared lost (its offline buffer overflowed)."""
    async with pool.acquire() as conn:
        await readable_meter(conn, reader, meter_id)
        return [Gap(**dict(r)) for r in await repo.gaps(conn, meter_id, limit)]


@router.get("/api/mints", response_model=list[MintBatch])
async def list_mints(
    reader: Reader, pool: Pool, meter_id: str | None = Query(None, max_length=32),
    limit: int = Query(100, ge=1, le=1000)
) -> list[MintBatch]:
    """Mint batches of ``meter_id`` (default: of the reader's meters; all for the operator and admins)."""
    async with pool.acquire() as conn:
        if meter_id is not None:
            await readable_meter(conn, reader, meter_id)
        owner = None if reader.privileged or meter_id is not None else reader.wallet
        return [MintBatch(**dict(r)) for r in await repo.mint_batches(conn, meter_id, limit, owner)]
