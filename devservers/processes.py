"""Servers in child processes, health-checked: the aggregator (``python -m aggregator
serve``) and the JSON-RPC localnet (``python -m tools.localnet``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import httpx

from devservers.ports import NotReady, free_tcp_port, wait_until, wait_until_async

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """A child process serving HTTP on a free loopback port.

    ``probe`` tells whether one answer means ready; :meth:`ready` polls it (and fails at
    once if the process exits first). :meth:`stop` sends SIGTERM and waits, then kills.
    With ``stderr=subprocess.PIPE`` (the default) the child's stderr goes to a temporary
    file, never to a pipe: a pipe nobody drains fills at 64 KiB of log lines, and the
    server then blocks in its next log call.
    """

    name = "server"

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, *, port: int | None = None,
                 stderr: int | None = subprocess.PIPE) -> None:
        self.port = port or free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self._log: IO[bytes] | None = None
        if stderr == subprocess.PIPE:
            self._log = tempfile.TemporaryFile(prefix=f"gtx-{self.name}-")  # noqa: SIM115 - closed in stop
            stderr = self._log.fileno()
        self.proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=full_env,
                                     stdout=subprocess.DEVNULL, stderr=stderr)

    def stderr_text(self) -> str:
        """What the process wrote to stderr so far ("" when it was not captured)."""
        if self._log is None or self._log.closed:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def probe(self, response: httpx.Response) -> bool:
        return response.status_code == 200

    def _request(self) -> httpx.Request:
        return httpx.Request("GET", self.url + "/readyz")

    def _exited(self) -> None:
        if self.proc.poll() is not None:
            err = self.stderr_text()
            raise NotReady(f"{self.name} exited with {self.proc.returncode}: {err[-3000:]}")

    def ready(self, timeout_s: float = 60.0) -> None:
        def answered() -> bool:
            self._exited()
            try:
                with httpx.Client(timeout=1) as client:
                    return self.probe(client.send(self._request()))
            except (httpx.TransportError, ValueError):
                return False
        wait_until(answered, self.name, timeout_s)

    async def ready_async(self, timeout_s: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=1) as client:
            async def answered() -> bool:
                self._exited()
                try:
                    return self.probe(await client.send(self._request()))
                except (httpx.TransportError, ValueError):
                    return False
            await wait_until_async(answered, self.name, timeout_s)

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, wait (kill after ``timeout_s``); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self._log is not None:
            self._log.close()
        return code

    def stop_and_read_stderr(self, timeout_s: float = 20.0) -> tuple[int, str]:
        """:meth:`stop`, and what the process wrote to stderr (when piped)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout_s)
        err = self.stderr_text()
        if self._log is not None:
            self._log.close()
        return self.proc.returncode, err


class AggregatorProcess(ServerProcess):
    """``python -m aggregator serve``; ready when ``/readyz`` answers 200."""

    name = "aggregator"

    def __init__(self, env: dict[str, str] | None = None, *, workers: int = 1, port: int | None = None,
                 stderr: int | None = subprocess.PIPE) -> None:
        port = port or free_tcp_port()
        super().__init__(["-m", "aggregator", "serve", "--port", str(port), "--workers", str(workers)], env,
                         port=port, stderr=stderr)


class LocalnetProcess(ServerProcess):
    """``python -m tools.localnet``: the programs in LiteSVM behind JSON-RPC; ready when
    ``getHealth`` answers ``ok``."""

    name = "localnet"

    def __init__(self, env: dict[str, str] | None = None, *, port: int | None = None) -> None:
        port = port or free_tcp_port()
        super().__init__(["-m", "tools.localnet", "--port", str(port)], env, port=port, stderr=subprocess.DEVNULL)

    def _request(self) -> httpx.Request:
        return httpx.Request("POST", self.url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})

    def probe(self, response: httpx.Response) -> bool:
        return response.json().get("result") == "ok"


class NodeProcess(ServerProcess):
    """``python -m aggregator.chain.node_server --data-dir DIR``: the durable LiteSVM node;
    ready when ``getHealth`` answers ``ok``."""

    name = "node"

    def __init__(self, data_dir: Path | None, env: dict[str, str] | None = None, *, port: int | None = None,
                 extra: list[str] | None = None) -> None:
        port = port or free_tcp_port()
        argv = ["-m", "aggregator.chain.node_server", "--port", str(port)]
        if data_dir is not None:
            argv += ["--data-dir", str(data_dir)]
        super().__init__([*argv, *(extra or [])], env, port=port)

    def _request(self) -> httpx.Request:
        return httpx.Request("POST", self.url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})

    def probe(self, response: httpx.Response) -> bool:
        return response.json().get("result") == "ok"
