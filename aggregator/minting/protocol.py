"""The chain operations the minter needs (implemented by ``aggregator.chain``).

Units: watt-hours; 1 kWh = 1 GRID, the token amount is derived on-chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class MintRejected(Exception):
    """The mint transaction executed and failed: nothing changed on chain (safe to retry)."""


class MeterNotOnChain(LookupError):
    """The meter has no account on chain (its owner has not registered it there)."""


@dataclass(frozen=True, slots=True)
class MintResult:
    signature: str  # base58 transaction signature
    minted_wh: int  # energy minted as tokens by this call (0 if net generation did not grow)


@dataclass(frozen=True, slots=True)
class ChainMeterState:
    """A meter's cumulative counters as recorded on chain."""

    production_wh: int
    consumption_wh: int
    settled_net_wh: int


@runtime_checkable
class MintChain(Protocol):
    async def settle_and_mint(self, meter_id: str, production_wh: int, consumption_wh: int) -> MintResult:
        """Add these deltas to the meter's on-chain totals and mint the unsettled net.

        Raises :class:`MintRejected` when the transaction failed on chain and
        :class:`MeterNotOnChain` for an unknown meter; any other error leaves the outcome
        unknown (the caller reconciles from :meth:`meter_state`)."""
        ...

    async def settled_net_wh(self, meter_id: str) -> int:
        """The meter's on-chain settled net-generation counter."""
        ...

    async def meter_state(self, meter_id: str) -> ChainMeterState:
        """All on-chain counters of the meter (used to reconcile after a crash)."""
        ...
