"""The chain service over both backends: LiteSVM in-process, and JSON-RPC (solana-py) against
a real HTTP JSON-RPC endpoint (tools/localnet.py)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, ChainError, LocalChain, Registry, token_amount
from aggregator.chain.backend import LiteSvmBackend, RpcBackend
from aggregator.chain.service import ChainService, UnknownMeterError
from tools.localnet import Localnet, create_app

REGISTRY = Registry()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rpc_url():
    chain = LocalChain([REGISTRY.program, REGISTRY.token.program])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Localnet(chain)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).json()["result"] == "ok":
                break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(params=["litesvm", "rpc"])
async def backend(request):
    if request.param == "litesvm":
        b = LiteSvmBackend(LocalChain([REGISTRY.program, REGISTRY.token.program]))
    else:
        b = RpcBackend(request.getfixturevalue("rpc_url"), [REGISTRY.program, REGISTRY.token.program])
    yield b
    await b.close()


async def _funded(backend, lamports: int = 10**10) -> Keypair:
    kp = Keypair()
    if isinstance(backend, LiteSvmBackend):
        backend.chain.fund(kp.pubkey(), lamports)
    else:
        await backend.client.request_airdrop(kp.pubkey(), lamports)
    return kp


async def test_mint_through_either_backend(backend):
    authority, oracle, owner = await _funded(backend), await _funded(backend), await _funded(backend)
    await backend.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                        REGISTRY.token.initialize(authority.pubkey())], [authority])
    await backend.send([REGISTRY.register_user(owner.pubkey(), PROSUMER),
                        REGISTRY.register_meter(owner.pubkey(), "RPC-1", bytes(32), "lab"),
                        REGISTRY.token.create_token_account(owner.pubkey(), owner.pubkey())], [owner])
    service = ChainService(backend, oracle, REGISTRY)

    first = await service.settle_and_mint("RPC-1", 5_000, 1_000)
    assert first.minted_wh == 4_000 and len(first.signature) > 60
    state = await service.meter_state("RPC-1")
    assert (state.production_wh, state.consumption_wh, state.settled_net_wh) == (5_000, 1_000, 4_000)
    assert (await service.settle_and_mint("RPC-1", 0, 0)).minted_wh == 0
    assert (await service.settle_and_mint("RPC-1", 500, 0)).minted_wh == 500
    assert await service.settled_net_wh("RPC-1") == 4_500
    account = await backend.account(REGISTRY.token.token_account(owner.pubkey()))
    assert token_amount(account.data) == 4_500

    with pytest.raises(ChainError) as info:
        await backend.send([REGISTRY.register_user(owner.pubkey(), 9)], [owner])
    assert (info.value.result.custom_code, info.value.result.error_name) == (6100, "InvalidUserType")
    with pytest.raises(UnknownMeterError):
        await service.meter_state("NOPE")
