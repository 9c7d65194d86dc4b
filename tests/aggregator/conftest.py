"""Aggregator test fixtures: real PostgreSQL per test, the app with its lifespan, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from aggregator.app import create_app
from tests.aggregator.agg_helpers import ADMIN, ADMIN_WALLET, Actors, make_settings
from tools import wallet
from tests.support.postgres import pg_dsn, pg_server  # noqa: F401  (fixtures)


@pytest.fixture
async def app(pg_dsn: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    application = create_app(make_settings(pg_dsn))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aggregator") as c:
        if ADMIN_WALLET in app.state.services.settings.admin_wallets:
            await wallet.authorize(c, ADMIN)
        yield c


@pytest.fixture
def actors(client: httpx.AsyncClient) -> Actors:
    return Actors(client)
