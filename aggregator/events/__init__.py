"""In-process event fan-out for the WebSocket stream (reading confirmations, mints)."""

from aggregator.events.hub import EventHub, Subscription

__all__ = ["EventHub", "Subscription"]
