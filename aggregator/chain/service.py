"""The aggregator's chain operations over either backend: record readings and mint.

Implements :class:`aggregator.minting.protocol.MintChain`: a batch's production and
consumption deltas are added to the meter's on-chain totals (``submit_readings``, signed
by the oracle) and settled (``settle_and_mint``) in one transaction, so a batch either
lands whole or not at all. The owner's GRID token account is created in the same
transaction (idempotently, paid by the oracle) the first time it is missing.
"""

from __future__ import annotations

import time

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import create_idempotent_associated_token_account

from aggregator.chain.backend import ChainBackend
from aggregator.chain.litesvm import ChainError
from aggregator.chain.registry import Registry
from aggregator.minting.protocol import ChainMeterState, MeterNotOnChain, MintRejected, MintResult

UnknownMeterError = MeterNotOnChain


class ChainService:
    def __init__(self, backend: ChainBackend, oracle: Keypair, registry: Registry | None = None) -> None:
        self.backend = backend
        self.oracle = oracle
        self.registry = registry or Registry()
        self._token_accounts: set[Pubkey] = set()  # owners whose GRID account is known to exist

    async def _meter(self, meter_id: str):
        account = await self.backend.account(self.registry.meter_address(meter_id))
        if account is None:
            raise UnknownMeterError(meter_id)
        return self.registry.decode(account.data)

    async def meter_state(self, meter_id: str) -> ChainMeterState:
        m = await self._meter(meter_id)
        return ChainMeterState(m.total_production_wh, m.total_consumption_wh, m.settled_net_generation_wh)

    async def settled_net_wh(self, meter_id: str) -> int:
        return (await self._meter(meter_id)).settled_net_generation_wh

    async def settle_and_mint(self, meter_id: str, production_wh: int, consumption_wh: int) -> MintResult:
        if production_wh < 0 or consumption_wh < 0:
            raise ValueError("production and consumption deltas must be non-negative")
        m = await self._meter(meter_id)
        reading_at = max(int(time.time()), m.last_reading_at)
        instructions = await self._token_account_ixs(m.owner)
        instructions += [
            self.registry.submit_readings(self.oracle.pubkey(), meter_id, m.total_production_wh + production_wh,
                                          m.total_consumption_wh + consumption_wh, reading_at),
            self.registry.settle_and_mint([(meter_id, m.owner)]),
        ]
        try:
            result = await self.backend.send(instructions, [self.oracle])
        except ChainError as exc:
            raise MintRejected(str(exc)) from exc
        self._token_accounts.add(m.owner)
        minted = sum(e.data.minted_wh for e in self.registry.program.decode_events(result.logs)
                     if e.name == "NetGenerationSettled")
        return MintResult(result.signature, minted)

    async def _token_account_ixs(self, owner: Pubkey) -> list:
        if owner in self._token_accounts:
            return []
        token = self.registry.token
        if await self.backend.account(token.token_account(owner)) is not None:
            self._token_accounts.add(owner)
            return []
        return [create_idempotent_associated_token_account(self.oracle.pubkey(), owner, token.mint_address())]
