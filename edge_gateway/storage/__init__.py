"""Durable storage: the SQLite outbox."""

from edge_gateway.storage.outbox import Outbox, OutboxItem, RejectRecord

__all__ = ["Outbox", "OutboxItem", "RejectRecord"]
