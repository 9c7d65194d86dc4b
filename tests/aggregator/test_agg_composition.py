"""The composition root: the lifespan builds the services once, starts the embedded
PostgreSQL itself when no URL is set, and closes everything it opened, also when the
start fails half-way; routes get what they need through typed dependencies."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aggregator.app import create_app
from aggregator.chain.errors import ChainSetupError
from aggregator.config import ChainSettings, Settings
from aggregator.services import services_of
from devservers import ServerProcess, free_tcp_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path (mode 0700 resets would lock the server user out).
    workdir = Path(tempfile.mkdtemp(prefix="gtx-root-"))
    try:
        yield workdir / "pg"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _postgres_running(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_app_factory_under_uvicorn_starts_and_stops_its_embedded_postgres(pg_dir: Path) -> None:
    """``uvicorn --factory aggregator.app:create_app`` without ``GTX_DATABASE_URL``: the
    lifespan starts PostgreSQL, serves, and stops it on SIGTERM."""
    env = {"GTX_EMBEDDED_PG_DIR": str(pg_dir), "GTX_CHAIN_BACKEND": "none", "GTX_LOG_LEVEL": "WARNING"}
    port = free_tcp_port()
    server = ServerProcess(["-m", "uvicorn", "--factory", "aggregator.app:create_app", "--port", str(port)], env,
                           port=port)
    try:
        server.ready(60)
        resp = httpx.get(f"{server.url}/readyz", timeout=5)
        assert resp.json() == {"database": True, "mqtt": None, "minter": False}
        assert _postgres_running(pg_dir)
        resp = httpx.get(f"{server.url}/api/trades")  # public, served from the database
        assert resp.status_code == 200 and resp.json() == []
        resp = httpx.get(f"{server.url}/api/meters/NOPE")  # private: a token first
        assert resp.status_code == 401 and resp.json()["error"]["reason"] == "token_required"
    finally:
        server.stop(30)
    assert not _postgres_running(pg_dir)


async def test_a_start_that_fails_after_postgres_started_stops_it(pg_dir: Path, tmp_path: Path) -> None:
    """The chain is opened after the database: a chain that cannot be used stops the start
    with its own error, and the embedded server started before it is stopped again."""
    settings = Settings(embedded_pg_dir=str(pg_dir), log_level="WARNING", chain=ChainSettings(
        backend="rpc", rpc_url="http://127.0.0.1:9", oracle_keypair=tmp_path / "missing.json"))
    app = create_app(settings)
    with pytest.raises(ChainSetupError):
        async with app.router.lifespan_context(app):
            pass
    assert (pg_dir / "PG_VERSION").exists()  # it did start
    assert not _postgres_running(pg_dir)
    with pytest.raises(RuntimeError, match="lifespan has not started"):
        services_of(app)


def test_routes_take_their_services_as_dependencies_not_parameters() -> None:
    """A typed dependency is resolved by FastAPI, never exposed as a query parameter."""
    schema = create_app(Settings(database_url="postgresql://unused/")).openapi()
    internal = {"services", "pool", "settings", "service", "desk", "chain", "hub", "app_metrics", "connection"}
    exposed = [(path, p["name"]) for path, ops in schema["paths"].items() for op in ops.values()
               for p in op.get("parameters", []) if p["name"] in internal]
    assert exposed == []
