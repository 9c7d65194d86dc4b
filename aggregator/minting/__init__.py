"""Minting, database side: batches of unminted readings and a crash-safe state machine.

The chain is reached only through :class:`aggregator.minting.protocol.MintChain`.
"""

from aggregator.minting.ledger import MintLedger
from aggregator.minting.protocol import ChainMeterState, MintChain, MintResult
from aggregator.minting.reconcile import Verdict, decide

__all__ = ["ChainMeterState", "MintChain", "MintLedger", "MintResult", "Verdict", "decide"]
