"""Real PostgreSQL for tests: one embedded server per session, one fresh database per test.

The server (``devservers.scratch_postgres``, ~1 s to start) is session
scoped. Migrations run once into a template database; each test gets a copy made with
``CREATE DATABASE ... TEMPLATE`` (tens of milliseconds) and dropped afterwards, so
tests never see each other's rows. Import the fixtures into a conftest::

    from tests.support.postgres import pg_dsn, pg_server  # noqa: F401
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from aggregator.db.embedded import EmbeddedPostgres
from aggregator.db.migrate import migrate
from devservers import scratch_postgres

TEMPLATE_DB = "gtx_template"
_counter = itertools.count(1)


async def _build_template(admin_dsn: str, template_dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(template_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    with scratch_postgres() as server:
        asyncio.run(_build_template(server.dsn(), server.dsn(TEMPLATE_DB)))
        yield server


@pytest.fixture
async def pg_dsn(pg_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """DSN of a freshly migrated, empty database private to this test."""
    name = f"gtx_test_{next(_counter)}"
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        yield pg_server.dsn(name)
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()
