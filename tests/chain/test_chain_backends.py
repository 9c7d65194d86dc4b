"""The chain service over both backends: LiteSVM in-process, and JSON-RPC (solana-py) against
a real HTTP JSON-RPC endpoint (tools/localnet.py); the `backend` fixture is in conftest."""

from __future__ import annotations

import pytest

from aggregator.chain import PROSUMER, ChainError, Registry, token_amount
from aggregator.minting.chain import ChainService
from aggregator.minting import MeterDelta, MeterNotOnChain, MintRejected
from tests.chain.chain_world import deployer as _deployer, funded as _funded

REGISTRY = Registry()


async def test_mint_through_either_backend(backend):
    authority, oracle, owner = await _deployer(backend), await _funded(backend), await _funded(backend)
    await backend.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                        REGISTRY.token.initialize(authority.pubkey())], [authority])
    await backend.send([REGISTRY.register_user(owner.pubkey(), PROSUMER),
                        REGISTRY.register_meter(owner.pubkey(), "RPC-1", bytes(32), "lab"),
                        REGISTRY.token.create_token_account(owner.pubkey(), owner.pubkey())], [owner])
    service = ChainService(backend, oracle, REGISTRY)

    first = await service.settle_and_mint("RPC-1", 5_000, 1_000)
    assert first.minted_wh == 5_000 and len(first.signature) > 60
    state = await service.meter_state("RPC-1")
    assert (state.production_wh, state.consumption_wh, state.settled_production_wh) == (5_000, 1_000, 5_000)
    assert (await service.settle_and_mint("RPC-1", 0, 0)).minted_wh == 0
    assert (await service.settle_and_mint("RPC-1", 500, 0)).minted_wh == 500
    assert await service.settled_production_wh("RPC-1") == 5_500
    account = await backend.account(REGISTRY.token.token_account(owner.pubkey()))
    assert token_amount(account.data) == 5_500

    with pytest.raises(ChainError) as info:
        await backend.send([REGISTRY.register_user(owner.pubkey(), 9)], [owner])
    assert (info.value.result.custom_code, info.value.result.error_name) == (6100, "InvalidUserType")
    with pytest.raises(MeterNotOnChain):
        await service.meter_state("NOPE")


async def test_a_full_mint_transaction_fits_one_packet_and_lands_whole(backend):
    """The worst case: every meter has its own owner whose GRID account does not exist yet."""
    authority, oracle = await _deployer(backend), await _funded(backend)
    await backend.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                        REGISTRY.token.initialize(authority.pubkey())], [authority])
    service = ChainService(backend, oracle, REGISTRY)
    n = service.max_meters_per_tx
    owners = [await _funded(backend) for _ in range(n)]
    for i, owner in enumerate(owners):
        await backend.send([REGISTRY.register_user(owner.pubkey(), PROSUMER),
                            REGISTRY.register_meter(owner.pubkey(), f"M-{i}", bytes(32), "lab")], [owner])
    deltas = [MeterDelta(f"M-{i}", 1_000 * (i + 1), 200) for i in range(n)]

    results = await service.settle_many(deltas)
    assert {m: r.minted_wh for m, r in results.items()} == {f"M-{i}": 1_000 * (i + 1) for i in range(n)}
    assert len({r.signature for r in results.values()}) == 1  # one transaction
    for i, owner in enumerate(owners):
        account = await backend.account(REGISTRY.token.token_account(owner.pubkey()))
        assert token_amount(account.data) == 1_000 * (i + 1)

    # One meter unknown on chain: refused before anything is sent.
    with pytest.raises(MeterNotOnChain):
        await service.settle_many([MeterDelta("M-0", 1, 0), MeterDelta("GHOST", 1, 0)])
    # A deactivated meter fails the whole transaction: nothing lands for the others either.
    await backend.send([REGISTRY.deactivate_meter(owners[1].pubkey(), "M-1")], [owners[1]])
    states = await service.meter_states(["M-0", "M-1"])
    with pytest.raises(MintRejected, match="MeterInactive|inactive"):
        await service.settle_many([MeterDelta("M-0", 50, 0), MeterDelta("M-1", 10, 0)])
    assert await service.meter_states(["M-0", "M-1"]) == states
