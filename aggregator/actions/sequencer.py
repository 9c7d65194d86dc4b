"""Order ids handed out in sequence, so concurrent traders of one market do not collide.

The program accepts an order only with the market's next order id (the order account is
the PDA of that id), and only once the orders before it landed. Without help, traders who
prepare at the same moment all get the same id and all but one relay fail. The sequencer
hands out successive ids to successive prepares (reserving each for ``hold_s``), and the
relay holds a reserved order whose turn has not come until the ids before it landed, or
until its reservation lapses; then it is sent as it is (and fails if an earlier id never
came: the trader prepares again). Reservations live in this process: traders of one
market served by several processes still collide across them, as without a sequencer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from solders.pubkey import Pubkey


@dataclass
class _Market:
    ids: dict[int, float] = field(default_factory=dict)  # reserved id -> deadline (monotonic)
    orders: dict[Pubkey, int] = field(default_factory=dict)  # order address -> its reserved id
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class OrderSequencer:
    def __init__(self, hold_s: float = 2.0) -> None:
        self.hold_s = hold_s
        self._markets: dict[Pubkey, _Market] = {}

    def reserve(self, market: Pubkey, chain_next: int) -> int:
        """The id for the next prepare in `market`, given the chain's next order id now.

        Ids the chain already passed and lapsed reservations are forgotten; when nobody
        holds the id the chain expects next (its prepare was abandoned), that id is handed
        out again, so one trader who never sends cannot stall the market for longer than
        a reservation."""
        m = self._markets.setdefault(market, _Market())
        now = time.monotonic()
        m.ids = {i: d for i, d in m.ids.items() if i >= chain_next and d > now}
        m.orders = {o: i for o, i in m.orders.items() if i in m.ids}
        order_id = chain_next if chain_next not in m.ids else max(m.ids) + 1
        m.ids[order_id] = now + self.hold_s
        return order_id

    def release(self, market: Pubkey, order_id: int) -> None:
        """A reserved id that no transaction will carry (the prepare failed)."""
        m = self._markets.get(market)
        if m is not None:
            m.ids.pop(order_id, None)

    def record(self, market: Pubkey, order: Pubkey, order_id: int) -> None:
        """The prepared transaction places `order` with `order_id`."""
        self._markets.setdefault(market, _Market()).orders[order] = order_id

    async def wait_turn(self, market: Pubkey, order: Pubkey, chain_next: Callable[[], Awaitable[int]]) -> None:
        """Return once `order`'s reserved id is the chain's next one (or its reservation lapsed)."""
        m = self._markets.get(market)
        order_id = m.orders.get(order) if m is not None else None
        deadline = m.ids.get(order_id) if m is not None and order_id is not None else None
        if m is None or order_id is None or deadline is None:
            return
        async with m.changed:
            while (await chain_next()) < order_id:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    await asyncio.wait_for(m.changed.wait(), left)
                except TimeoutError:
                    return

    async def landed(self, market: Pubkey) -> None:
        """A transaction of `market` was relayed: waiting orders look again."""
        m = self._markets.get(market)
        if m is not None:
            async with m.changed:
                m.changed.notify_all()
