"""A trader's client for the GridTokenX aggregator: a typed HTTP client
(:class:`gtx_trader.client.TraderClient`) and the ``gtx-trader`` CLI
(``python -m gtx_trader --help``). It imports nothing of the service."""

from gtx_trader.client import Sent, TraderClient, TraderError, load_keypair

__all__ = ["Sent", "TraderClient", "TraderError", "load_keypair"]
