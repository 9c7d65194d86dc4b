"""asyncpg pool creation (one place that decides connection options)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 8,
    init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """``init`` runs once per new connection (e.g. to create temp staging tables)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init,
        # Validation state lives in row locks, not in session state: statement caching is safe.
        command_timeout=60,
        server_settings={"application_name": "gtx-aggregator", "timezone": "UTC"},
    )
    assert pool is not None
    return pool
