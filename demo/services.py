"""The demo's servers: an embedded PostgreSQL, a local mosquitto and the aggregator.

Each ``start_*`` registers its teardown on the caller's exit stack *before* starting, so an
error or Ctrl-C at any point stops exactly what was started. The aggregator is served by
uvicorn on the demo's own event loop (in-process), which keeps its LiteSVM chain
reachable: the demo's owners register on it with their own keys, as on a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from aggregator.app import create_app
from aggregator.chain.connect import Chain
from aggregator.config import Settings
from aggregator.db.embedded import EmbeddedPostgres
from aggregator.services import services_of
from devservers import scratch_postgres
from devservers.mosquitto import MosquittoBroker

__all__ = ["Aggregator", "DemoError", "serve_aggregator", "start_broker", "start_postgres"]


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def start_postgres(stack: contextlib.AsyncExitStack, data_dir: Path) -> EmbeddedPostgres:
    """A fresh cluster in ``data_dir``; destroyed (stopped, directory removed) on exit.

    Started on the event loop's thread (about a second): a start-up still running in a
    worker thread could not be stopped by a Ctrl-C that arrives meanwhile.
    """
    return stack.enter_context(scratch_postgres(data_dir=data_dir))


def start_broker(stack: contextlib.AsyncExitStack, workdir: Path) -> MosquittoBroker:
    """mosquitto on a free loopback port, without persistence; stopped on exit."""
    broker = MosquittoBroker(workdir, persistence=False)
    stack.callback(broker.stop)
    broker.start()
    return broker


class _InProcessServer(uvicorn.Server):
    """uvicorn without its own signal handlers: Ctrl-C belongs to the demo, which then
    shuts the server down with everything else."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Aggregator:
    app: FastAPI
    url: str
    client: httpx.AsyncClient

    @property
    def chain(self) -> Chain:
        handle = services_of(self.app).chain_handle
        if handle is None or handle.local is None:
            raise DemoError("the aggregator has no in-process LiteSVM chain")
        return handle


async def serve_aggregator(stack: contextlib.AsyncExitStack, settings: Settings,
                           timeout_s: float = 60.0, *, app: FastAPI | None = None) -> Aggregator:
    """Serve ``app`` (default ``create_app(settings)``) on a free 127.0.0.1 port; ready when
    ``/readyz`` says the database and (if enabled) the MQTT subscription are up."""
    app = app or create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stack.callback(sock.close)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _InProcessServer(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                             ws="websockets-sansio"))

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's way of reporting a failed lifespan start-up
            raise DemoError("the aggregator did not start (its error is logged above)") from exc

    task = asyncio.create_task(serve(), name="gtx-demo-aggregator")

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 15)
        except TimeoutError:
            server.force_exit = True
            await task
        except DemoError:
            pass

    stack.push_async_callback(stop)
    url = f"http://127.0.0.1:{port}"
    client = httpx.AsyncClient(base_url=url, timeout=30)
    stack.push_async_callback(client.aclose)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if task.done():
            task.result()  # raises the start-up failure
            raise DemoError("the aggregator stopped during start-up")
        if server.started:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return Aggregator(app, url, client)
        if loop.time() > deadline:
            raise DemoError(f"the aggregator was not ready after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
