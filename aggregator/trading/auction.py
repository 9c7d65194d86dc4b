"""Uniform-price auctions, pure: one clearing price per market slot, and the fills at it.

Rules (the program's, ``programs/trading/README.md``): slot *s* covers
``[s * auction_slot_secs, (s + 1) * auction_slot_secs)`` of chain time; it can be settled
once it is over, with orders placed before it ended, all at one price that is a positive
multiple of the tick and lies within every filled order's limits (bid >= price >= ask).

The clearing price maximises the matched volume ``min(demand(p), supply(p))``, where
demand is the size of bids with a limit ``>= p`` and supply the size of asks ``<= p``.
Demand only falls and supply only rises with the price, so the prices that reach the
maximum form one interval ``[low, high]``, whose ends are order limits (multiples of the
tick). Tie-break: the midpoint of that interval, rounded **down** to the tick, which
splits the surplus between buyers and sellers and stays inside the interval. Owners are
not considered when clearing: a pair of one owner's orders is skipped when rationing
(self-trade prevention), so the volume traded can fall short of the maximum.

Rationing at the clearing price is by price-time priority: bids highest limit first,
asks lowest first, then the oldest order id, as in continuous matching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aggregator.chain.trading import ASK, BID
from aggregator.trading.matching import BookOrder, PlannedFill, plan_fills


@dataclass(frozen=True)
class Clearing:
    """One slot's outcome: its price and the volume that crosses there (before self-trade skips)."""

    price_per_kwh: int
    volume_wh: int


def slot_end(slot: int, auction_slot_secs: int) -> int:
    """Chain time (unix seconds) at which `slot` is over."""
    return (slot + 1) * auction_slot_secs


def last_ended_slot(now: int, auction_slot_secs: int) -> int | None:
    """The newest slot that is over at chain time `now` (None before the first ends)."""
    slot = now // auction_slot_secs - 1
    return slot if slot >= 0 else None


def eligible(orders: Iterable[BookOrder], *, slot: int, auction_slot_secs: int, now: int,
             lot_size_wh: int) -> list[BookOrder]:
    """Orders that may trade in `slot`: placed before it ended, not expired at `now` (when
    the fills are sent: the program checks expiry then), at least one lot left."""
    end = slot_end(slot, auction_slot_secs)
    return [o for o in orders if o.placed_at < end and o.live(now) and o.remaining_wh >= lot_size_wh]


def matched_volume(orders: Iterable[BookOrder], price_per_kwh: int) -> int:
    """min(demand, supply) at `price_per_kwh`."""
    orders = list(orders)
    demand = sum(o.remaining_wh for o in orders if o.side == BID and o.price_per_kwh >= price_per_kwh)
    supply = sum(o.remaining_wh for o in orders if o.side == ASK and o.price_per_kwh <= price_per_kwh)
    return min(demand, supply)


def clearing_price(orders: Iterable[BookOrder], tick_size: int) -> Clearing | None:
    """The price that maximises matched volume (midpoint of the best interval, rounded down
    to the tick); None when no bid crosses any ask. Limits must be multiples of the tick."""
    orders = list(orders)
    # Volume only changes at order limits and never peaks strictly between two of them,
    # so the limits are the only candidates needed to find the interval's ends.
    candidates = sorted({o.price_per_kwh for o in orders})
    volumes = [(p, matched_volume(orders, p)) for p in candidates]
    best = max((v for _, v in volumes), default=0)
    if best == 0:
        return None
    at_best = [p for p, v in volumes if v == best]
    low, high = at_best[0], at_best[-1]
    return Clearing((low + high) // 2 // tick_size * tick_size, best)


def plan_auction(orders: Iterable[BookOrder], price_per_kwh: int, *, now: int, lot_size_wh: int,
                 skip: Callable[[BookOrder, BookOrder], bool] = lambda bid, ask: False) -> list[PlannedFill]:
    """Fills at `price_per_kwh` between the bids at or above it and the asks at or below it,
    by price-time priority. `orders` must already be the slot's eligible orders."""
    crossing = [o for o in orders if (o.side == BID and o.price_per_kwh >= price_per_kwh)
                or (o.side == ASK and o.price_per_kwh <= price_per_kwh)]
    # Every remaining bid now crosses every remaining ask, so continuous matching's
    # priority order does the rationing; only the price differs (the batch carries it).
    return plan_fills(crossing, now=now, lot_size_wh=lot_size_wh, skip=skip)
