"""Fan-out of domain events to WebSocket subscribers.

Each subscriber gets a bounded queue. A subscriber that cannot keep up loses the
oldest events (and is told how many through ``dropped``) rather than slowing ingest:
the stream is a convenience view, the database is the record.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Subscription:
    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def close(self) -> None:
        self._hub._subs.discard(self)


class EventHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subs: set[Subscription] = set()
        self._queue_size = queue_size

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subs)

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._queue_size)
        self._subs.add(sub)
        return sub

    def publish(self, event: dict[str, Any]) -> None:
        for sub in list(self._subs):
            sub.offer(event)
