"""Transaction history on both backends: `signatures_for_address` (newest first; `before`,
`until`, `limit` as Solana's getSignaturesForAddress) and `transaction`; and the bounds of
LocalChain's journal."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, LocalChain
from aggregator.chain.backend import ChainBackend, LiteSvmBackend
from aggregator.chain.litesvm import Journal
from tests.chain.chain_world import PROGRAMS, REGISTRY, World, funded


async def _users(backend: ChainBackend, n: int) -> list[str]:
    signatures = []
    for _ in range(n):
        kp = await funded(backend)
        signatures.append((await backend.send([REGISTRY.register_user(kp.pubkey(), PROSUMER)], [kp])).signature)
    return signatures


async def test_signatures_newest_first_with_before_until_limit(backend):
    world = await World(backend).start()
    users = await _users(backend, 5)
    loser = await funded(backend)
    failed = await backend.send([REGISTRY.register_user(loser.pubkey(), 9)], [loser], check=False)
    assert not failed.ok
    history = [world.init.signature, *users, failed.signature]  # oldest first

    listed = await backend.signatures_for_address(REGISTRY.program_id, until=None, limit=100)
    assert [s.signature for s in listed] == history[::-1]
    slots = [s.slot for s in listed]
    assert slots == sorted(slots, reverse=True) and len(set(slots)) == len(slots)

    first = await backend.signatures_for_address(REGISTRY.program_id, until=None, limit=4)
    rest = await backend.signatures_for_address(REGISTRY.program_id, until=None, limit=4,
                                                before=first[-1].signature)
    assert first + rest == listed and len(first) == 4
    assert await backend.signatures_for_address(REGISTRY.program_id, until=None, limit=4,
                                                before=history[0]) == []

    newer = await backend.signatures_for_address(REGISTRY.program_id, until=history[2], limit=100)
    assert [s.signature for s in newer] == history[3:][::-1]
    window = await backend.signatures_for_address(REGISTRY.program_id, until=history[1], limit=100,
                                                  before=history[4])
    assert [s.signature for s in window] == [history[3], history[2]]
    assert await backend.signatures_for_address(REGISTRY.program_id, until=history[-1], limit=100) == []

    # Only transactions that name the address: energy_token appears in the init only.
    token = await backend.signatures_for_address(REGISTRY.token.program_id, until=None, limit=100)
    assert [s.signature for s in token] == [world.init.signature]
    assert [s.signature for s in await backend.signatures_for_address(loser.pubkey(), until=None, limit=10)] \
        == [failed.signature]
    assert await backend.signatures_for_address(Keypair().pubkey(), until=None, limit=10) == []


async def test_transaction_outcome_and_logs(backend):
    await World(backend).start()
    [signature] = await _users(backend, 1)
    loser = await funded(backend)
    failed = await backend.send([REGISTRY.register_user(loser.pubkey(), 9)], [loser], check=False)
    listed = {s.signature: s.slot for s in await backend.signatures_for_address(REGISTRY.program_id,
                                                                                 until=None, limit=10)}

    record = await backend.transaction(signature)
    assert record is not None and record.ok and record.slot == listed[signature]
    assert [e.name for e in REGISTRY.program.decode_events(record.logs)] == ["UserRegistered"]

    bad = await backend.transaction(failed.signature)
    assert bad is not None and not bad.ok and bad.slot == listed[failed.signature]
    assert bad.logs == failed.logs and any("failed" in line for line in bad.logs)

    unknown = str(Keypair().sign_message(b"never sent"))
    assert await backend.transaction(unknown) is None


async def test_journal_keeps_the_newest_transactions():
    backend = LiteSvmBackend(LocalChain(PROGRAMS, journal_size=3))
    world = await World(backend).start()
    users = await _users(backend, 4)
    listed = await backend.signatures_for_address(REGISTRY.program_id, until=None, limit=10)
    assert [s.signature for s in listed] == users[:0:-1]
    assert await backend.transaction(world.init.signature) is None
    assert await backend.transaction(users[0]) is None
    # An `until` that fell out of the journal bounds nothing: everything kept is newer.
    again = await backend.signatures_for_address(REGISTRY.program_id, until=users[0], limit=10)
    assert again == listed
    assert len(backend.chain.journal.entries) == 3

    with pytest.raises(ValueError):
        Journal(0)
    with pytest.raises(ValueError):
        backend.chain.journal.signatures_for_address(REGISTRY.program_id, limit=0)
