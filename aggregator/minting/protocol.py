"""The chain operations the minter needs (implemented by ``aggregator.chain``).

Units: watt-hours; 1 kWh = 1 GRID, the token amount is derived on-chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from aggregator.errors import MintError


class MintRejected(MintError):
    """The mint transaction executed and failed: nothing changed on chain (safe to retry)."""


class MeterNotOnChain(MintError):
    """The meter has no account on chain (its owner has not registered it there)."""

    def __init__(self, meter_id: str) -> None:
        super().__init__("meter_not_on_chain", f"meter {meter_id} has no account on chain", meter_id=meter_id)
        self.meter_id = meter_id


@dataclass(frozen=True, slots=True)
class MeterDelta:
    """Energy to add to one meter's on-chain counters in a mint."""

    meter_id: str
    production_wh: int
    consumption_wh: int


@dataclass(frozen=True, slots=True)
class MintResult:
    signature: str  # base58 transaction signature
    minted_wh: int  # energy minted as tokens for the meter (0 if its production counter did not grow)


@dataclass(frozen=True, slots=True)
class ChainMeterState:
    """A meter's cumulative counters as recorded on chain.

    Equality compares the counters only (that is what tells whether a mint landed);
    ``owner`` (base58) and ``last_reading_at`` ride along when read from the chain so a
    mint can be built on exactly the state its intent recorded."""

    production_wh: int
    consumption_wh: int
    settled_production_wh: int
    owner: str | None = field(default=None, compare=False)
    last_reading_at: int = field(default=0, compare=False)


@runtime_checkable
class MintChain(Protocol):
    #: most meters one :meth:`settle_many` call (one transaction) may carry
    max_meters_per_tx: int

    async def settle_many(self, deltas: Sequence[MeterDelta],
                          states: Mapping[str, ChainMeterState] | None = None) -> dict[str, MintResult]:
        """Add each meter's deltas to its on-chain totals and mint its unsettled net, in one
        transaction: all meters land or none. ``states``, when given, are the counters just
        read by :meth:`meter_states` (and recorded as the intent): the totals are built on
        them, so a landed mint moves the counters by exactly the deltas.

        Raises :class:`MintRejected` when the transaction failed on chain and
        :class:`MeterNotOnChain` for an unknown meter; any other error leaves the outcome
        unknown (the caller reconciles from :meth:`meter_states`)."""
        ...

    async def meter_states(self, meter_ids: Sequence[str]) -> dict[str, ChainMeterState]:
        """On-chain counters of these meters, in one round trip; unknown meters are left out."""
        ...

    async def meter_state(self, meter_id: str) -> ChainMeterState:
        """All on-chain counters of one meter (raises :class:`MeterNotOnChain`)."""
        ...
