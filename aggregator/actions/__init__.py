"""Solana Actions: transactions for a user's wallet to sign (orders, takes, funds, certificates)."""

from aggregator.actions.router import ActionsCors, router

__all__ = ["ActionsCors", "router"]
