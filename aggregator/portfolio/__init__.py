"""A wallet's portfolio: balances read from the chain, its history and earnings statements."""

from aggregator.portfolio.router import router

__all__ = ["router"]
