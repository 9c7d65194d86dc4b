"""The command line: ``python -m aggregator migrate`` and ``serve`` as real processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devservers import AggregatorProcess

ROOT = Path(__file__).resolve().parents[2]


def test_migrate_then_serve_on_embedded_postgres() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gtx-cli-"))
    env = {"GTX_EMBEDDED_PG_DIR": str(workdir / "pg")}
    try:
        out = subprocess.run([sys.executable, "-m", "aggregator", "migrate"], cwd=ROOT, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        versions = sorted(int(p.name[:4]) for p in (ROOT / "aggregator/db/migrations").glob("*.sql"))
        assert f"applied migrations: {versions}" in out.stdout
        assert not (workdir / "pg" / "postmaster.pid").exists()  # migrate stopped its server
        stderr = _serve_until_ready_then_sigterm(env)
        assert "applied migrations: none (up to date)" in stderr
        assert not (workdir / "pg" / "postmaster.pid").exists()  # SIGTERM stopped PostgreSQL too
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_serve_on_a_database_url(pg_dsn: str) -> None:
    _serve_until_ready_then_sigterm({"GTX_DATABASE_URL": pg_dsn})


def _serve_until_ready_then_sigterm(extra_env: dict[str, str]) -> str:
    server = AggregatorProcess({"GTX_LOG_LEVEL": "WARNING", **extra_env})
    try:
        server.ready(60)
        resp = httpx.get(f"{server.url}/readyz", timeout=5)
        assert resp.json() == {"database": True, "mqtt": None, "minter": True}  # LiteSVM by default
        resp = httpx.post(f"{server.url}/api/meters/submit-reading", content=b"{}")
        assert resp.status_code == 422 and resp.json()["error"]["reason"] == "missing_field"
    finally:
        code, stderr = server.stop_and_read_stderr(20)
    assert code == 0, stderr
    return stderr
