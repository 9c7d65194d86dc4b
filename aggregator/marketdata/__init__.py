"""Market data: depth by price level, trades, candles, 24 h statistics, and the live
per-market channel (book deltas with sequence numbers after a snapshot, trades)."""

from aggregator.marketdata.router import router

__all__ = ["router"]
