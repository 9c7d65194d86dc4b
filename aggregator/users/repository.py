"""SQL for users and their energy balances."""

from __future__ import annotations

import asyncpg

from aggregator.errors import Conflict, NotFound


async def create(conn: asyncpg.Connection, wallet: str, role: str, display_name: str | None,
                 chain_state: str = "active") -> asyncpg.Record:
    try:
        return await conn.fetchrow(
            """INSERT INTO users (wallet, role, display_name, chain_state) VALUES ($1, $2, $3, $4)
               RETURNING id, wallet, role, display_name, created_at, chain_state""",
            wallet, role, display_name, chain_state,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("user_exists", f"wallet {wallet} is already registered") from exc


async def get(conn: asyncpg.Connection, wallet: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, wallet, role, display_name, created_at, chain_state FROM users WHERE wallet = $1", wallet
    )
    if row is None:
        raise NotFound("unknown_user", f"no user with wallet {wallet}")
    return row


async def balance(conn: asyncpg.Connection, user_id: int) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM meters WHERE owner_id = $1) AS meters,
             COALESCE((SELECT sum(b.minted_wh) FROM mint_batches b JOIN meters m USING (meter_id)
                       WHERE m.owner_id = $1 AND b.state = 'confirmed'), 0)::bigint AS minted_wh,
             COALESCE(sum(r.production_wh), 0)::bigint AS pending_production_wh,
             COALESCE(sum(r.consumption_wh), 0)::bigint AS pending_consumption_wh
           FROM readings r JOIN meters m USING (meter_id)
           WHERE m.owner_id = $1 AND NOT r.minted""",
        user_id,
    )
