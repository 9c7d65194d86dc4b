"""The chain service over both backends: LiteSVM in-process, and JSON-RPC (solana-py) against
a real HTTP JSON-RPC endpoint (tools/localnet.py); the `backend` fixture is in conftest."""

from __future__ import annotations

import pytest

from aggregator.chain import PROSUMER, ChainError, Registry, token_amount
from aggregator.chain.service import ChainService, UnknownMeterError
from tests.chain.chain_world import funded as _funded

REGISTRY = Registry()


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
