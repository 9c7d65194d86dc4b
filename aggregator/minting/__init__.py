"""Minting, database side: batches of unminted readings and a crash-safe state machine.

The chain is reached only through :class:`aggregator.minting.protocol.MintChain`.
"""

from aggregator.minting.ledger import MintLedger
from aggregator.minting.minter import Minter
from aggregator.minting.protocol import (
    ChainMeterState,
    MeterDelta,
    MeterNotOnChain,
    MintChain,
    MintRejected,
    MintResult,
)
from aggregator.minting.reconcile import Verdict, decide

__all__ = [
    "ChainMeterState", "MeterDelta", "MeterNotOnChain", "MintChain", "MintLedger", "MintRejected", "MintResult",
    "Minter",
    "Verdict", "decide",
]
