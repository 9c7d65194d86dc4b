"""The relay's bounds: a transaction that never confirms ties up one slot for a bounded
time with backed-off polling, concurrent relays are capped, and malformed input is a 422.

The cluster that never confirms is a real JSON-RPC server on loopback that accepts every
transaction and never reports it (a congested cluster dropping them), counting calls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.transaction import Transaction
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aggregator.chain.backend import RpcBackend
from aggregator.errors import AggregatorError
from aggregator.trading.service import RelayGate, RelaySettings
from tests.aggregator.agg_helpers import Actors
from tests.aggregator.agg_trading_helpers import Floor, floor, running_app  # noqa: F401  (fixture)
from devservers import free_tcp_port


@contextlib.asynccontextmanager
async def black_hole_cluster() -> AsyncIterator[tuple[str, Counter[str]]]:
    calls: Counter[str] = Counter()

    async def rpc(request: Request) -> JSONResponse:
        body = await request.json()
        calls[body["method"]] += 1
        result: object = None
        if body["method"] == "sendTransaction":
            raw = base64.b64decode(body["params"][0])
            result = str(Transaction.from_bytes(raw).signatures[0])
        return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "result": result})

    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", rpc, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "RPC server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", calls
    finally:
        server.should_exit = True
        await task


def _budget_only_tx() -> str:
    """A validly signed transaction the relay's checks pass (compute budget only)."""
    payer = Keypair()
    tx = Transaction.new_signed_with_payer([set_compute_unit_limit(200_000)], payer.pubkey(), [payer], Hash.default())
    return base64.b64encode(bytes(tx)).decode()


async def test_unconfirmed_relays_wait_a_bounded_time_poll_with_backoff_and_are_capped() -> None:
    async with black_hole_cluster() as (url, calls):
        backend = RpcBackend(url, [])
        gate = RelayGate(RelaySettings(wait_s=1.0, max_concurrent=2))
        try:
            started = time.monotonic()
            outcomes = await asyncio.gather(*(gate.relay(backend, {}, _budget_only_tx()) for _ in range(5)),
                                            return_exceptions=True)
            elapsed = time.monotonic() - started
        finally:
            await backend.close()
    reasons = sorted(o.reason for o in outcomes if isinstance(o, AggregatorError))
    assert reasons == ["confirmation_timeout"] * 2 + ["relay_busy"] * 3
    statuses = {o.reason: o.status for o in outcomes if isinstance(o, AggregatorError)}
    assert statuses == {"confirmation_timeout": 504, "relay_busy": 503}
    assert elapsed < 3.0  # not 60 s
    assert calls["sendTransaction"] == 2  # the refused three never reached the cluster
    assert calls["getTransaction"] <= 2 * 12  # backed off: was ~20 polls a second each
    assert gate.in_flight == 0


async def test_malformed_transaction_bytes_are_a_422(floor: Floor) -> None:  # noqa: F811
    payer = Keypair()
    tx = Transaction.new_signed_with_payer([set_compute_unit_limit(1)], payer.pubkey(), [payer], Hash.default())
    raw = bytearray(bytes(tx))
    raw[-8] = 99  # the instruction's program index points past the account keys
    resp = await floor.http.post("/api/transactions", json={"transaction": base64.b64encode(bytes(raw)).decode()})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["reason"] == "malformed_transaction"


@pytest.mark.parametrize("value", [2**63, 2**64, 10**30])
async def test_a_huge_event_cursor_is_a_422(client: httpx.AsyncClient, value: int) -> None:
    resp = await client.get("/api/chain/events", params={"before_id": value})
    assert resp.status_code == 422 and resp.json()["error"]["reason"] == "malformed_request"


@pytest.mark.parametrize("value", [2**63, 10**30, -1])
async def test_a_huge_readings_cursor_is_a_422(client: httpx.AsyncClient, actors: Actors, value: int) -> None:
    owner = await actors.user("cursor")
    await actors.meter(owner, "mtr-cursor")
    resp = await client.get("/api/meters/mtr-cursor/readings", params={"before_seq": value})
    assert resp.status_code == 422 and resp.json()["error"]["reason"] == "malformed_request"
