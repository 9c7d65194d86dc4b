"""Apply numbered ``migrations/NNNN_name.sql`` files in order, each exactly once.

``schema_migrations`` records version, name and a SHA-256 of each applied file; an
applied file whose text later changes is refused (edit history by adding a migration).
A PostgreSQL advisory lock lets several replicas start at once safely.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from aggregator.errors import StartupError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x67747831  # "gtx1"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(StartupError):
    """The migrations on disk or in the database are not consistent (the start stops)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError("bad_filename", f"{path.name} is not NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    # Unique versions, applied in order; a missing number is allowed (a migration of a
    # branch not merged yet keeps its number, and is applied whenever it arrives).
    if len(set(versions)) != len(versions):
        raise MigrationError("duplicate_version", f"two migrations share a version: {versions}")
    return found


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations; return the versions applied by this call."""
    migrations = load_migrations(directory)
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version INT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
                   applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        done = {r["version"]: r["checksum"] for r in rows}
        for m in migrations:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError("checksum_mismatch", f"{m.version:04d}_{m.name} changed after it was applied")
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version, m.name, m.checksum,
                )
            applied_now.append(m.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
