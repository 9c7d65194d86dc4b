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

from tools.mosquitto import free_tcp_port

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
    port = free_tcp_port()
    env = {**os.environ, "GTX_LOG_LEVEL": "WARNING", **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "serve exited early"
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if resp.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.05)
        assert resp.json() == {"database": True, "mqtt": None, "minter": True}  # LiteSVM by default
        resp = httpx.post(f"http://127.0.0.1:{port}/api/meters/submit-reading", content=b"{}")
        assert resp.status_code == 422 and resp.json()["error"]["reason"] == "missing_field"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr is not None:
            proc.stderr.close()
    assert code == 0, stderr
    return stderr
