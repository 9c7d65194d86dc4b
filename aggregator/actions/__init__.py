"""Solana Actions: transactions for a user's wallet to sign (orders, takes, funds,
certificates), in :mod:`aggregator.actions.router`; order ids in sequence in
:mod:`aggregator.actions.sequencer` (imported by the service container, so this package
imports nothing eagerly)."""
