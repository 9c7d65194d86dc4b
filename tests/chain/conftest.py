"""Chain fixtures: each test runs once per backend (LiteSVM in-process, JSON-RPC over HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from aggregator.chain.backend import ChainBackend
from tests.chain.chain_world import make_backend, serve_localnet


@pytest.fixture
def rpc_url() -> Iterator[str]:
    with serve_localnet() as url:
        yield url


@pytest.fixture(params=["litesvm", "rpc"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[ChainBackend]:
    url = request.getfixturevalue("rpc_url") if request.param == "rpc" else None
    b = make_backend(request.param, url)
    yield b
    await b.close()
