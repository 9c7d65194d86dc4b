"""Continuous matching, pure: which fills a crossed book allows (no I/O).

Price-time priority: bids by highest price then oldest order id, asks by lowest price
then oldest id; each bid in turn takes the best asks it crosses. A fill trades at the
maker's price (the older order's limit, as the program computes it). Orders of the same
owner never meet (self-trade prevention: the pair is skipped, both stay on the book for
others). Expired orders (``expires_at <= now``, chain time) and sizes below one lot are
left alone; sizes are rounded down to whole lots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from solders.pubkey import Pubkey

from aggregator.chain.trading import ASK, BID


@dataclass
class BookOrder:
    """An order as the chain holds it right now."""

    address: Pubkey
    order_id: int
    owner: Pubkey
    side: int
    price_per_kwh: int
    remaining_wh: int
    expires_at: int  # 0: good until cancelled
    placed_at: int = 0  # chain time; an auction slot takes the orders placed before it ended

    def live(self, now: int) -> bool:
        return self.remaining_wh > 0 and (self.expires_at == 0 or self.expires_at > now)


@dataclass(frozen=True)
class PlannedFill:
    bid: BookOrder
    ask: BookOrder
    energy_wh: int

    @property
    def price_per_kwh(self) -> int:
        """The maker's price: the limit of the order placed first."""
        return self.bid.price_per_kwh if self.bid.order_id < self.ask.order_id else self.ask.price_per_kwh


def plan_fills(orders: Iterable[BookOrder], *, now: int, lot_size_wh: int,
               skip: Callable[[BookOrder, BookOrder], bool] = lambda bid, ask: False) -> list[PlannedFill]:
    """Fills that uncross the book, in priority order; `skip(bid, ask)` vetoes a pair
    (the matcher's record of pairs the chain refused)."""
    live = [o for o in orders if o.live(now)]
    # Work on copies: the callers' orders keep the chain's numbers.
    bids = sorted((BookOrder(**vars(o)) for o in live if o.side == BID), key=lambda o: (-o.price_per_kwh, o.order_id))
    asks = sorted((BookOrder(**vars(o)) for o in live if o.side == ASK), key=lambda o: (o.price_per_kwh, o.order_id))
    fills: list[PlannedFill] = []
    for bid in bids:
        for ask in asks:
            if ask.price_per_kwh > bid.price_per_kwh or bid.remaining_wh < lot_size_wh:
                break
            if ask.remaining_wh < lot_size_wh or ask.owner == bid.owner or skip(bid, ask):
                continue
            size = min(bid.remaining_wh, ask.remaining_wh) // lot_size_wh * lot_size_wh
            fills.append(PlannedFill(BookOrder(**vars(bid)), BookOrder(**vars(ask)), size))
            bid.remaining_wh -= size
            ask.remaining_wh -= size
    return fills
