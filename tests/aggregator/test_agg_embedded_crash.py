"""The embedded PostgreSQL after a crash: ``serve`` killed with SIGKILL, or a power cut.

``python -m aggregator serve`` runs as a real process; the crash is a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aggregator.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from devservers import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]


def _serve(pg_dir: Path) -> subprocess.Popen[bytes]:
    """``serve`` on an embedded PostgreSQL in ``pg_dir``, once /readyz answers 200."""
    port = free_tcp_port()
    env = {**os.environ, "GTX_LOG_LEVEL": "WARNING", "GTX_EMBEDDED_PG_DIR": str(pg_dir)}
    env.pop("GTX_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.stderr is not None:
                proc.stderr.close()
            raise AssertionError(f"serve exited with {proc.returncode}: {err[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.05)


def _postmaster(pg_dir: Path) -> int:
    return int((pg_dir / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())  # empty for a zombie
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still running"
        time.sleep(0.02)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def _terminate(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    if proc.stderr is not None:
        proc.stderr.close()
    return code


def test_serve_killed_with_sigkill_leaves_an_orphan_the_next_start_stops(tmp_path: Path) -> None:
    pg_dir = tmp_path / "pg"
    proc = _serve(pg_dir)
    orphan = _postmaster(pg_dir)
    _kill(proc)
    assert _alive(orphan)  # PostgreSQL outlived the aggregator

    proc = _serve(pg_dir)  # used to fail with already_running
    try:
        assert not _alive(orphan)
        assert _postmaster(pg_dir) != orphan
    finally:
        assert _terminate(proc) == 0
    assert not (pg_dir / "postmaster.pid").exists()


def test_power_cut_leaves_a_stale_pid_file_the_next_start_removes(tmp_path: Path) -> None:
    pg_dir = tmp_path / "pg"
    proc = _serve(pg_dir)
    server = _postmaster(pg_dir)
    _kill(proc)
    os.kill(server, signal.SIGKILL)  # everything gone at once, as in a power cut
    _wait_gone(server)
    assert (pg_dir / "postmaster.pid").exists()

    proc = _serve(pg_dir)
    assert _terminate(proc) == 0

    # After a reboot the old pid may name an unrelated process: still stale.
    lines = ["999999999"] if not Path("/proc/999999999").exists() else ["0"]
    (pg_dir / "postmaster.pid").write_text("\n".join([str(os.getpid()), *lines]) + "\n")
    proc = _serve(pg_dir)
    assert _terminate(proc) == 0


def test_a_server_whose_owner_is_alive_is_not_touched(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg") as first:
        running = _postmaster(first.data_dir)
        with pytest.raises(EmbeddedPostgresError) as err:
            EmbeddedPostgres(tmp_path / "pg").start()
        assert err.value.reason == "already_running"
        assert _alive(running)
