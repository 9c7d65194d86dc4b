"""Migrations, the embedded PostgreSQL launcher and settings validation."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError

from aggregator.config import Settings
from aggregator.db.embedded import EmbeddedPostgres
from aggregator.db.migrate import MigrationError, load_migrations, migrate


async def test_migrations_are_idempotent_and_guarded(pg_dsn: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await migrate(conn) == []  # the template already applied them
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in load_migrations()]
        edited = tmp_path / "edited"
        edited.mkdir()
        (edited / "0001_core.sql").write_text("SELECT 1;")
        with pytest.raises(MigrationError) as err:
            await migrate(conn, edited)
        assert err.value.reason == "checksum_mismatch"
    finally:
        await conn.close()
    twice = tmp_path / "twice"
    twice.mkdir()
    (twice / "0001_a.sql").write_text("SELECT 1;")
    (twice / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError) as err:
        load_migrations(twice)
    assert err.value.reason == "duplicate_version"


async def test_failed_migration_leaves_nothing_half_applied(pg_dsn: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        migrations = load_migrations()
        for m in migrations:
            shutil.copy(Path(__file__).parents[2] / "aggregator/db/migrations" / f"{m.version:04d}_{m.name}.sql", tmp_path)
        broken = migrations[-1].version + 1
        (tmp_path / f"{broken:04d}_broken.sql").write_text(
            "CREATE TABLE half_done (id INT); SELECT no_such_column FROM users;")
        with pytest.raises(asyncpg.UndefinedColumnError):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == migrations[-1].version
    finally:
        await conn.close()


async def test_embedded_postgres_keeps_data_across_restarts() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gtx-pg-restart-"))
    server = EmbeddedPostgres(workdir / "data")
    try:
        conn = await asyncpg.connect(server.start())
        await conn.execute("CREATE TABLE kept (energy_wh BIGINT); INSERT INTO kept VALUES (42)")
        await conn.close()
        server.stop()
        conn = await asyncpg.connect(server.start())
        assert await conn.fetchval("SELECT energy_wh FROM kept") == 42
        await conn.close()
    finally:
        server.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    assert not (workdir / "data").exists()


def test_settings_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTX_INGEST_MAX_AGE_S", "a week")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("GTX_INGEST_MAX_AGE_S")
    monkeypatch.setenv("GTX_DB_POOL_MIN", "9")
    monkeypatch.setenv("GTX_DB_POOL_MAX", "2")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("GTX_DB_POOL_MIN", "1")
    monkeypatch.setenv("GTX_INGEST_RATE_LIMIT_INTERVAL_S", "300")
    assert Settings().ingest.rate_limit_interval_s == 300


def test_logs_are_one_json_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from aggregator.logs import configure_logging

    configure_logging("INFO", json_lines=True)
    logger = logging.getLogger("aggregator")
    try:
        logging.getLogger("aggregator.ingest").info("readings rejected", extra={"fields": {"reasons": {"too_old": 2}}})
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        for handler in [h for h in logger.handlers if getattr(h, "_gtx", False)]:
            logger.removeHandler(handler)
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["msg"], entry["reasons"]) == (
        "info", "aggregator.ingest", "readings rejected", {"too_old": 2}
    )
