"""One leader per role across replicas: a PostgreSQL session-level advisory lock.

Several aggregator processes may share one PostgreSQL, one broker (MQTT shared
subscription) and one chain. Ingest runs everywhere; the minter, the matcher and the
indexer must each run in one process only. With ``GTX_LEADER_ELECTION=true`` each of them
runs under :func:`lead`: a dedicated connection (outside the pool) tries
``pg_try_advisory_lock`` on the role's key; the process that holds it runs the role. The
lock belongs to that connection's session, so when the leader dies — even by SIGKILL —
PostgreSQL ends the session and frees the lock, and a follower, retrying every
``retry_s``, takes over. A leader that loses its connection stops the role at once (its
lock is gone too), then competes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

log = logging.getLogger("aggregator.leader")

#: Roles held by the current process (for /readyz).
HELD: set[str] = set()


def lock_key(role: str) -> int:
    """A stable signed 64-bit advisory-lock key for `role`."""
    return int.from_bytes(hashlib.sha256(f"gridtokenx:{role}".encode()).digest()[:8], "big", signed=True)


async def lead(dsn: str, role: str, run: Callable[[], Coroutine[Any, Any, Any]], *, retry_s: float = 2.0,
               check_s: float = 1.0) -> None:
    """Run `run()` while this process holds `role`'s lock; compete for it until cancelled."""
    key = lock_key(role)
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                await asyncio.sleep(retry_s)
            HELD.add(role)
            log.info("leader", extra={"fields": {"role": role}})
            task = asyncio.create_task(run(), name=f"gtx-{role}")
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=check_s)
                    if not task.done():
                        await conn.fetchval("SELECT 1")  # still our session: still our lock
                await task
            finally:
                HELD.discard(role)
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("leadership lost; competing again", extra={"fields": {"role": role, "error": repr(exc)}})
            await asyncio.sleep(retry_s)
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()
