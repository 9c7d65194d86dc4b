"""Minting's transactions over either chain backend: record readings and mint.

Implements :class:`aggregator.minting.protocol.MintChain`. One transaction carries up to
:attr:`ChainService.max_meters_per_tx` meters: for each, its production and consumption
deltas are added to its on-chain totals (``submit_readings``, signed by the oracle), and
one ``settle_and_mint`` settles them all, so a batch of meters lands whole or not at all.
An owner's GRID token account is created in the same transaction (idempotently, paid by
the oracle) the first time it is missing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from spl.token.instructions import create_idempotent_associated_token_account

from aggregator.chain.backend import ChainBackend
from aggregator.chain.errors import ChainError
from aggregator.chain.programs import from_label
from aggregator.chain.registry import Registry
from aggregator.minting.protocol import ChainMeterState, MeterDelta, MeterNotOnChain, MintRejected, MintResult
from common.wire import PACKET_BYTES


class ChainService:
    #: Meters per mint transaction. Five fit one legacy transaction even when every meter has
    #: a different owner whose token account must be created (tests/chain checks the bound).
    max_meters_per_tx = 5

    def __init__(self, backend: ChainBackend, oracle: Keypair, registry: Registry | None = None) -> None:
        self.backend = backend
        self.oracle = oracle
        self.registry = registry or Registry()
        self._token_accounts: set[Pubkey] = set()  # owners whose GRID account is known to exist

    async def _meters(self, meter_ids: Sequence[str]) -> dict[str, Any]:
        accounts = await self.backend.accounts([self.registry.meter_address(m) for m in meter_ids])
        return {m: self.registry.decode(a.data) for m, a in zip(meter_ids, accounts) if a is not None}

    async def meter_states(self, meter_ids: Sequence[str]) -> dict[str, ChainMeterState]:
        return {m: ChainMeterState(a.total_production_wh, a.total_consumption_wh, a.settled_production_wh,
                                   str(a.owner), a.last_reading_at)
                for m, a in (await self._meters(meter_ids)).items()}

    async def meter_state(self, meter_id: str) -> ChainMeterState:
        states = await self.meter_states([meter_id])
        if meter_id not in states:
            raise MeterNotOnChain(meter_id)
        return states[meter_id]

    async def settled_production_wh(self, meter_id: str) -> int:
        return (await self.meter_state(meter_id)).settled_production_wh

    async def settle_and_mint(self, meter_id: str, production_wh: int, consumption_wh: int) -> MintResult:
        """One meter: :meth:`settle_many` with a single delta."""
        return (await self.settle_many([MeterDelta(meter_id, production_wh, consumption_wh)]))[meter_id]

    async def settle_many(self, deltas: Sequence[MeterDelta],
                          states: Mapping[str, ChainMeterState] | None = None) -> dict[str, MintResult]:
        if not 1 <= len(deltas) <= self.max_meters_per_tx:
            raise ValueError(f"a mint transaction carries 1-{self.max_meters_per_tx} meters, got {len(deltas)}")
        if len({d.meter_id for d in deltas}) != len(deltas):
            raise ValueError("each meter may appear once per mint transaction")
        if any(d.production_wh < 0 or d.consumption_wh < 0 for d in deltas):
            raise ValueError("production and consumption deltas must be non-negative")
        if states is None or any(d.meter_id not in states or states[d.meter_id].owner is None for d in deltas):
            states = await self.meter_states([d.meter_id for d in deltas])
        owners: dict[str, Pubkey] = {}
        for d in deltas:
            owner = states[d.meter_id].owner if d.meter_id in states else None
            if owner is None:
                raise MeterNotOnChain(d.meter_id)
            owners[d.meter_id] = Pubkey.from_string(owner)
        now = int(time.time())
        instructions = await self._token_account_ixs(list(dict.fromkeys(owners.values())))
        for d in deltas:
            m = states[d.meter_id]
            instructions.append(self.registry.submit_readings(
                self.oracle.pubkey(), d.meter_id, m.production_wh + d.production_wh,
                m.consumption_wh + d.consumption_wh, max(now, m.last_reading_at)))
        instructions.append(self.registry.settle_and_mint([(d.meter_id, owners[d.meter_id]) for d in deltas]))
        if (size := self.transaction_bytes(instructions)) > PACKET_BYTES:
            raise ValueError(f"mint transaction of {len(deltas)} meters is {size} bytes (limit {PACKET_BYTES})")
        try:
            result = await self.backend.send(instructions, [self.oracle])
        except ChainError as exc:
            raise MintRejected("mint_rejected", str(exc), signature=exc.result.signature) from exc
        self._token_accounts.update(owners.values())
        minted = {d.meter_id: 0 for d in deltas}
        for event in self.registry.program.decode_events(result.logs):
            if event.name == "ProductionSettled":
                minted[from_label(event.data.meter_id)] = event.data.minted_wh
        return {m: MintResult(result.signature, wh) for m, wh in minted.items()}

    def transaction_bytes(self, instructions: Sequence[Instruction]) -> int:
        """Size of these instructions as a signed legacy transaction from the oracle (the
        unsigned form already holds a 64-byte slot per signature)."""
        message = Message.new_with_blockhash(list(instructions), self.oracle.pubkey(), Hash.default())
        return len(bytes(Transaction.new_unsigned(message)))

    async def _token_account_ixs(self, owners: list[Pubkey]) -> list[Instruction]:
        unknown = [o for o in owners if o not in self._token_accounts]
        if not unknown:
            return []
        token = self.registry.token
        found = await self.backend.accounts([token.token_account(o) for o in unknown])
        ixs = []
        for owner, account in zip(unknown, found):
            if account is not None:
                self._token_accounts.add(owner)
            else:
                ixs.append(create_idempotent_associated_token_account(
                    self.oracle.pubkey(), owner, token.mint_address()))
        return ixs
