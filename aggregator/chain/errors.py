"""Errors of the chain client library, under one base the caller catches.

    ChainClientError            base; the library raises nothing else of its own
    ├── ChainError              a transaction executed (or was refused) and failed;
    │                           ``result`` is its :class:`~aggregator.chain.transactions.TxResult`
    ├── HistoryError            a node's history answer cannot be used
    ├── ChainSetupError         the configured chain cannot be used (missing build, key,
    │                           uninitialised registry, unknown market)
    └── NodeError               the durable node refuses a request (answered over
                                JSON-RPC as an error; ``aggregator.chain.node``)

Transport failures of a JSON-RPC node surface as the RPC client's own errors
(``httpx.HTTPError``, solana-py's ``SolanaExceptionBase``/``RPCException``) and a
confirmation that never comes as ``TimeoutError``; :data:`aggregator.errors.RETRYABLE`
names them once for the service's loops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aggregator.chain.transactions import TxResult


class ChainClientError(Exception):
    """Base of every error the chain client library raises."""


class ChainError(ChainClientError):
    """A transaction failed; `result` says how."""

    def __init__(self, result: TxResult) -> None:
        super().__init__(result.describe())
        self.result = result


class HistoryError(ChainClientError):
    """A node's history answer cannot be used (a transaction without status metadata)."""


class ChainSetupError(ChainClientError):
    """The configured chain cannot be used (missing build, key, or uninitialised registry)."""


class NodeError(ChainClientError, ValueError):
    """A request the durable node refuses (its JSON-RPC layer answers it as an error)."""
