"""The trading floor's app served by uvicorn on a real socket (for WebSocket clients,
other processes and the CLI), on an in-process chain with a market and certificates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI

from aggregator.app import create_app
from aggregator.certificates import local_certificate_desk
from aggregator.chain.connect import local_chain
from aggregator.trading import local_desk
from devservers import free_tcp_port
from tests.aggregator.agg_helpers import ADMIN, make_settings
from tests.aggregator.agg_trading_helpers import Floor
from tools import wallet


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run `app` (its lifespan included) on a free loopback port; its base URL."""
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@contextlib.asynccontextmanager
async def served_floor(dsn: str, *, indexer_poll_s: float = 0.02) -> AsyncIterator[tuple[Floor, str]]:
    """A :class:`Floor` whose HTTP client talks to the app over a real socket, and the URL."""
    chain = local_chain()
    desk, certificates = local_desk(chain), local_certificate_desk(chain)
    settings = make_settings(dsn, chain="litesvm")
    settings.indexer_poll_s = indexer_poll_s
    settings.mint_sweep_s = 3600
    app = create_app(settings, chain_handle=chain, trading_desk=desk, certificate_desk=certificates)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        await wallet.authorize(http, ADMIN)  # the floor's own reads are the test admin's
        yield Floor(app, http, chain, desk), url
