"""HTTP limits against a real ``python -m aggregator serve``: bodies, chunked or not, are
capped for every route; anonymous writes are rate limited per address; a wallet's open
challenges are capped."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from solders.keypair import Keypair

from devservers import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]


class Serve:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, pg_dir: Path) -> None:
        self.proc, self.port, self.pg_dir = proc, port, pg_dir
        self.url = f"http://127.0.0.1:{port}"

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    pg_dir = tmp_path_factory.mktemp("limits") / "pg"
    port = free_tcp_port()
    env = {**os.environ, "GTX_LOG_LEVEL": "WARNING", "GTX_EMBEDDED_PG_DIR": str(pg_dir),
           "GTX_HTTP_WRITE_RATE_PER_S": "20", "GTX_HTTP_WRITE_BURST": "100"}
    env.pop("GTX_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Serve(proc, port, pg_dir)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "serve exited early"
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.05)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def _chunked_post(port: int, path: str, total_bytes: int, chunk_bytes: int = 1 << 20) -> tuple[int, dict[str, object], int]:
    """Stream ``total_bytes`` as a chunked body until the server answers; (status, body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = f"{chunk_bytes:x}\r\n".encode() + b" " * chunk_bytes + b"\r\n"
        while sent < total_bytes:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer came before the body ended
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk_bytes
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < _length(raw):
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    finally:
        sock.close()
    head, body = raw.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body[:_length(raw)]), sent


def _length(raw: bytes) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0].decode().lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":")[1])
    return 1 << 30


@pytest.mark.parametrize("path", ["/api/meters/submit-readings", "/api/transactions", "/api/users"])
def test_a_200_mb_chunked_body_is_refused_early_on_every_route(serve: Serve, path: str) -> None:
    before = serve.rss_bytes()
    status, body, sent = _chunked_post(serve.port, path, 200 << 20)
    assert status == 413 and body["error"]["reason"] == "body_too_large"  # type: ignore[index]
    assert sent < 100 << 20  # refused long before the end
    assert serve.rss_bytes() - before < 64 << 20  # not 459 MB


def test_a_declared_oversized_body_is_refused_before_it_is_read(serve: Serve) -> None:
    with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as sock:
        sock.sendall(b"POST /api/auth/challenge HTTP/1.1\r\nHost: x\r\nContent-Length: 209715200\r\n\r\n")
        raw = b""
        while b"}}" not in raw:
            data = sock.recv(65536)
            assert data, raw
            raw += data
    assert raw.startswith(b"HTTP/1.1 413") and b'"body_too_large"' in raw


def test_anonymous_writes_are_rate_limited_and_a_wallet_keeps_few_open_challenges(serve: Serve) -> None:
    wallet = str(Keypair().pubkey())
    codes: list[int] = []
    retry_after: list[str] = []
    started = time.monotonic()
    with httpx.Client(base_url=serve.url, timeout=10) as client:
        for _ in range(1500):
            resp = client.post("/api/auth/challenge", json={"wallet": wallet, "purpose": "register_user"})
            codes.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.json()["error"]["reason"] == "rate_limited"
                retry_after.append(resp.headers["retry-after"])
        elapsed = time.monotonic() - started
        # Other routes and reads are not limited.
        assert client.get("/healthz").status_code == 200
    assert set(codes) == {201, 429}
    assert codes.count(201) <= 100 + 20 * elapsed + 5
    assert all(int(s) >= 1 for s in retry_after)

    async def open_challenges() -> int:
        conn = await asyncpg.connect(host=str(serve.pg_dir), port=5432, user="postgres", database="postgres")
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM auth_challenges WHERE wallet = $1 AND used_at IS NULL", wallet))
        finally:
            await conn.close()

    assert asyncio.run(open_challenges()) == 16
