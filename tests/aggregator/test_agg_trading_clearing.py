"""The uniform-price clearing, pure: the clearing price against a brute-force reference
over every tick, and the rationing at it (property tests, no I/O)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from aggregator.chain.trading import ASK, BID
from aggregator.trading.auction import clearing_price, eligible, last_ended_slot, plan_auction
from aggregator.trading.matching import BookOrder

TICK = 1_000
LOT_WH = 10


def book(specs: list[tuple[int, int, int, int]]) -> list[BookOrder]:
    """(side, price in ticks, size in lots, owner number) -> orders with ids in list order."""
    return [BookOrder(Pubkey.new_unique(), i, Pubkey([owner] * 32), side, ticks * TICK, lots * LOT_WH, 0)
            for i, (side, ticks, lots, owner) in enumerate(specs)]


def reference(orders: list[BookOrder]) -> tuple[int, int, int] | None:
    """(best volume, lowest and highest price reaching it), trying every tick."""
    top = max((o.price_per_kwh for o in orders), default=0)
    volumes = {}
    for p in range(TICK, top + TICK, TICK):
        demand = sum(o.remaining_wh for o in orders if o.side == BID and o.price_per_kwh >= p)
        supply = sum(o.remaining_wh for o in orders if o.side == ASK and o.price_per_kwh <= p)
        volumes[p] = min(demand, supply)
    best = max(volumes.values(), default=0)
    if best == 0:
        return None
    at_best = [p for p, v in volumes.items() if v == best]
    return best, min(at_best), max(at_best)


order_specs = st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(1, 40), st.integers(1, 20),
                                 st.integers(1, 4)), max_size=14)


@settings(max_examples=400, deadline=None)
@given(order_specs)
def test_clearing_price_maximises_volume_at_the_midpoint_rounded_down(specs) -> None:
    orders = book(specs)
    expected = reference(orders)
    found = clearing_price(orders, TICK)
    if expected is None:
        assert found is None
        return
    volume, low, high = expected
    assert found is not None and found.volume_wh == volume
    assert found.price_per_kwh == (low + high) // 2 // TICK * TICK
    assert low <= found.price_per_kwh <= high and found.price_per_kwh % TICK == 0


@settings(max_examples=300, deadline=None)
@given(order_specs, st.booleans())
def test_rationing_respects_limits_sizes_and_priority(specs, distinct_owners) -> None:
    if distinct_owners:
        specs = [(side, ticks, lots, i) for i, (side, ticks, lots, _) in enumerate(specs)]
    orders = book(specs)
    clearing = clearing_price(orders, TICK)
    if clearing is None:
        return
    price = clearing.price_per_kwh
    fills = plan_auction(orders, price, now=0, lot_size_wh=LOT_WH)
    taken: dict[int, int] = {}
    for f in fills:
        assert f.bid.price_per_kwh >= price >= f.ask.price_per_kwh  # nobody beyond their limit
        assert f.bid.owner != f.ask.owner and f.energy_wh > 0 and f.energy_wh % LOT_WH == 0
        for o in (f.bid, f.ask):
            taken[o.order_id] = taken.get(o.order_id, 0) + f.energy_wh
    for o in orders:
        assert taken.get(o.order_id, 0) <= o.remaining_wh
    if distinct_owners:
        assert sum(f.energy_wh for f in fills) == clearing.volume_wh
        # Price-time priority: an order is filled only if every order ahead of it on its
        # side (better limit, or same limit and older) is filled completely.
        for side, ahead in ((BID, lambda a, b: (-a.price_per_kwh, a.order_id) < (-b.price_per_kwh, b.order_id)),
                            (ASK, lambda a, b: (a.price_per_kwh, a.order_id) < (b.price_per_kwh, b.order_id))):
            filled = [o for o in orders if o.side == side and taken.get(o.order_id)]
            for o in filled:
                for other in orders:
                    if other.side == side and ahead(other, o):
                        assert taken.get(other.order_id, 0) == other.remaining_wh


def test_the_slot_s_orders_are_those_placed_before_it_ended_and_still_live() -> None:
    assert last_ended_slot(59, 60) is None and last_ended_slot(60, 60) == 0 and last_ended_slot(179, 60) == 1
    early, late, expired = book([(BID, 5, 1, 1), (ASK, 5, 1, 2), (ASK, 5, 1, 3)])
    early.placed_at, late.placed_at, expired.placed_at = 119, 120, 100
    expired.expires_at = 130
    assert eligible([early, late, expired], slot=1, auction_slot_secs=60, now=130, lot_size_wh=LOT_WH) == [early]
