"""Property tests of the trading program: random sequences of orders, cancels, expiries,
refunds of price improvement, clock moves and fill batches (many of them invalid) against a plain-Python model.

After every step the chain must agree with the model exactly — every token balance, every
order, every error code — and these invariants are checked directly as well:
  * conservation: per mint, the sum over traders, vaults and the fee account is constant;
  * the vaults hold exactly what the open orders escrow;
  * no fill beyond a limit price or a remaining size, no self-trade;
  * expired, cancelled and filled orders never fill.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.chain.trading import ASK, BID, Fill, fee_of, value_of
from tests.programs.trading_helpers import CHAIN_TIME, FEE_BPS, Floor

TRADERS = 3
GRID_WH = 20_000
PAYMENT = 3_000_000
PRICES = [90_000, 100_000, 110_000, 120_000]
SLOT_SECS = 300
PROPERTY_SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class ModelOrder:
    address: object
    owner: int
    order_id: int
    side: int
    price: int
    remaining: int
    escrow: int
    placed_at: int
    expires_at: int
    open: bool = True

    def expired(self, now: int) -> bool:
        return self.expires_at != 0 and now >= self.expires_at


class Model:
    """What the program should do, written as plainly as possible."""

    def __init__(self, slot_secs: int) -> None:
        self.slot_secs = slot_secs
        self.grid = [GRID_WH] * TRADERS
        self.pay = [PAYMENT] * TRADERS
        self.grid_vault = self.pay_vault = self.fees = 0
        self.orders: list[ModelOrder] = []
        self.now = CHAIN_TIME
        self.cleared_slot = self.clearing_price = 0

    def place(self, owner: int, side: int, price: int, size: int) -> int | None:
        """None when it succeeds, else the failing program's code (1: SPL insufficient funds)."""
        escrow = size if side == ASK else value_of(price, size)
        have = self.grid if side == ASK else self.pay
        return 1 if have[owner] < escrow else None

    def close(self, order: ModelOrder) -> None:
        if order.side == ASK:
            self.grid[order.owner] += order.escrow
            self.grid_vault -= order.escrow
        else:
            self.pay[order.owner] += order.escrow
            self.pay_vault -= order.escrow
        order.escrow, order.open = 0, False

    def refund(self, order: ModelOrder) -> int | None:
        """refund_improvement of one order: the error code, or None after paying the surplus."""
        if not order.open:
            return 6112
        if order.side != BID:
            return 6118
        surplus = order.escrow - value_of(order.price, order.remaining)
        order.escrow -= surplus
        self.pay_vault -= surplus
        self.pay[order.owner] += surplus
        return None

    def expire_error(self, order: ModelOrder) -> int | None:
        if not order.open:
            return 6112
        if order.remaining == 0 or order.expired(self.now):
            return None
        return 6111

    def settle_error(self, fills: list[tuple[ModelOrder, ModelOrder, int]], auction: tuple[int, int] | None) -> int | None:
        """Simulate the batch on copies; return the first error code or None."""
        end = None
        if auction is not None:
            slot, price = auction
            end = (slot + 1) * self.slot_secs
            if price == 0:
                return 6104
            if self.now < end:
                return 6123
            if self.clearing_price != 0 and slot <= self.cleared_slot:
                if slot < self.cleared_slot:
                    return 6124
                if price != self.clearing_price:
                    return 6125
        state = {id(o): (o.remaining, o.escrow) for b, a, _ in fills for o in (b, a)}
        for bid, ask, size in fills:
            b_rem, a_rem = state[id(bid)][0], state[id(ask)][0]
            if size == 0:
                return 6127
            if not bid.open or not ask.open:
                return 6112
            if bid.side != BID or ask.side != ASK:
                return 6118
            if b_rem == 0 or a_rem == 0:
                return 6113
            if bid.expired(self.now) or ask.expired(self.now):
                return 6114
            if bid.owner == ask.owner:
                return 6115
            if size > b_rem or size > a_rem:
                return 6116
            if auction is None:
                if bid.price < ask.price:
                    return 6117
                price = bid.price if bid.order_id < ask.order_id else ask.price
            else:
                if bid.placed_at >= end or ask.placed_at >= end:
                    return 6126
                price = auction[1]
                if price > bid.price or price < ask.price:
                    return 6117
            value = value_of(price, size)
            state[id(bid)] = (b_rem - size, state[id(bid)][1] - value)
            state[id(ask)] = (a_rem - size, state[id(ask)][1] - size)
        return None

    def settle(self, fills: list[tuple[ModelOrder, ModelOrder, int]], auction: tuple[int, int] | None) -> None:
        for bid, ask, size in fills:
            if auction is None:
                price = bid.price if bid.order_id < ask.order_id else ask.price
            else:
                price = auction[1]
            value = value_of(price, size)
            fee = fee_of(value, FEE_BPS)
            bid.remaining -= size
            bid.escrow -= value
            ask.remaining -= size
            ask.escrow -= size
            self.grid_vault -= size
            self.grid[bid.owner] += size
            self.pay_vault -= value
            self.pay[ask.owner] += value - fee
            self.fees += fee
        if auction is not None and (self.clearing_price == 0 or auction[0] > self.cleared_slot):
            self.cleared_slot, self.clearing_price = auction


def check_agreement(f: Floor, model: Model) -> None:
    traders = f.traders
    assert [f.balance(t.grid_account) for t in traders] == model.grid
    assert [f.balance(t.payment_account) for t in traders] == model.pay
    assert f.balance(f.market.grid_vault) == model.grid_vault
    assert f.balance(f.market.payment_vault) == model.pay_vault
    assert f.balance(f.fee_account) == model.fees
    # Conservation per mint, fees included.
    assert sum(f.grid_balances().values()) == TRADERS * GRID_WH
    assert sum(f.payment_balances().values()) == TRADERS * PAYMENT
    # The vaults hold exactly what open orders escrow.
    open_orders = [o for o in model.orders if o.open]
    assert model.grid_vault == sum(o.escrow for o in open_orders if o.side == ASK)
    assert model.pay_vault == sum(o.escrow for o in open_orders if o.side == BID)
    for o in model.orders:
        on_chain = f.order(o.address)
        if not o.open:
            assert on_chain is None
            continue
        assert (on_chain.remaining_wh, on_chain.escrow_amount) == (o.remaining, o.escrow)
        # A bid's escrow always covers its remaining size at its limit.
        if o.side == BID:
            assert o.escrow >= value_of(o.price, o.remaining)


def check_fill_events(f: Floor, logs: list[str], before: dict[int, ModelOrder]) -> None:
    for e in f.trading.program.decode_events(logs):
        if e.name != "FillSettled":
            continue
        bid, ask = before[e.data.bid_id], before[e.data.ask_id]
        assert ask.price <= e.data.price_per_kwh <= bid.price
        assert e.data.buyer != e.data.seller
        assert 0 < e.data.energy_wh
        assert e.data.bid_remaining_wh >= 0 and e.data.ask_remaining_wh >= 0


place_op = st.tuples(st.just("place"), st.integers(0, TRADERS - 1), st.sampled_from([ASK, BID]),
                     st.sampled_from(PRICES), st.integers(1, 4_000), st.sampled_from([0, 0, 0, 240, 900]))
settle_op = st.tuples(st.just("settle"),
                      st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30),
                                         st.sampled_from([100, 100, 75, 50, 25, 10, 0, 110]),
                                         st.sampled_from([False] * 5 + [True])), min_size=1, max_size=4),
                      st.sampled_from([0] * 6 + [-1, 1]), st.sampled_from(PRICES + [None] * 4))
op = st.one_of(
    place_op, settle_op, settle_op,
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("expire"), st.integers(0, 30)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.sampled_from([False] * 3 + [True])),
    st.tuples(st.just("wait"), st.sampled_from([30, 120, 300, 700])),
)


def clearing_price(model: Model, slot: int, fills) -> int:
    """A price every fill of the batch accepts, or the slot's price if already cleared."""
    if model.clearing_price and slot == model.cleared_slot:
        return model.clearing_price
    return max(ask.price for _, ask, _ in fills)


# Fills mostly pair an open bid with a crossing open ask of another owner (so many batches
# succeed); sometimes any two orders at all (closed, filled, same side, same owner); sizes
# are a share of what remains, up to 10 % beyond it. Auction prices are mostly consistent.
def pick_fills(model: Model, picks, slot_end: int | None) -> list[tuple[ModelOrder, ModelOrder, int]]:
    orders = model.orders

    def tradable(o: ModelOrder) -> bool:
        return (o.open and o.remaining > 0 and not o.expired(model.now)
                and (slot_end is None or o.placed_at < slot_end))

    fills = []
    for b, a, share, anything in picks:
        bids = orders if anything else [o for o in orders if o.side == BID and tradable(o)]
        if not bids:
            continue
        bid = bids[b % len(bids)]
        asks = orders if anything else [o for o in orders if o.side == ASK and tradable(o)
                                        and o.owner != bid.owner and o.price <= bid.price]
        if not asks:
            continue
        ask = asks[a % len(asks)]
        fills.append((bid, ask, min(bid.remaining, ask.remaining) * share // 100))
    return fills


def run_sequence(ops, slot_secs: int) -> None:
    f = Floor.create()
    f.open_market(auction_slot_secs=slot_secs)
    f.add_traders(TRADERS, grid_wh=GRID_WH, payment=PAYMENT)
    model = Model(slot_secs)
    for step in ops:
        kind = step[0]
        if kind == "place":
            _, who, side, price, size, ttl = step
            trader = f.traders[who]
            expires_at = model.now + ttl if ttl else 0
            expected = model.place(who, side, price, size)
            address, result = f.place(trader, side, price, size, expires_at=expires_at, check=False)
            assert result.custom_code == expected, result.logs[-4:]
            if expected is None:
                escrow = size if side == ASK else value_of(price, size)
                if side == ASK:
                    model.grid[who] -= escrow
                    model.grid_vault += escrow
                else:
                    model.pay[who] -= escrow
                    model.pay_vault += escrow
                model.orders.append(ModelOrder(address, who, len(model.orders), side, price, size, escrow,
                                               model.now, expires_at))
        elif kind in ("cancel", "expire") and model.orders:
            order = model.orders[step[1] % len(model.orders)]
            owner = f.traders[order.owner]
            if kind == "cancel":
                ix = f.trading.cancel_order(owner.pubkey, f.market, order.address, order.side)
                expected = None if order.open else 6112
                result = f.chain.send([ix], [owner.wallet], check=False)
            else:
                ix = f.trading.expire_order(owner.pubkey, f.market, order.address, order.side)
                expected = model.expire_error(order)
                result = f.chain.send([ix], [f.matcher], check=False)
            assert result.custom_code == expected, result.logs[-4:]
            if expected is None:
                model.close(order)
        elif kind == "refund" and model.orders:
            # Mostly a bid that has earned price improvement; sometimes any order at all.
            earned = [o for o in model.orders
                      if o.side == BID and o.open and o.escrow > value_of(o.price, o.remaining)]
            candidates = model.orders if step[2] else earned or model.orders
            order = candidates[step[1] % len(candidates)]
            owner = f.traders[order.owner]
            ix = f.trading.refund_improvement(f.market, [(order.address, owner.pubkey)])
            result = f.chain.send([ix], [f.matcher], check=False)
            assert result.custom_code == model.refund(order), result.logs[-4:]
        elif kind == "wait":
            model.now += step[1]
            f.chain.set_time(model.now)
        elif kind == "settle" and model.orders:
            _, picks, slot_offset, price = step
            slot = model.now // slot_secs - 1 + slot_offset if slot_secs else None
            fills = pick_fills(model, picks, None if slot is None else (slot + 1) * slot_secs)
            if not fills:
                continue
            auction = None
            if slot is not None:
                auction = (slot, clearing_price(model, slot, fills) if price is None else price)
            expected = model.settle_error(fills, auction)
            before = {o.order_id: ModelOrder(**vars(o)) for o in model.orders}
            chain_fills = [Fill(b.address, a.address, f.traders[b.owner].pubkey, f.traders[a.owner].pubkey, size)
                           for b, a, size in fills]
            kw = {"auction_slot": auction[0], "clearing_price": auction[1]} if auction else {}
            result = f.settle(chain_fills, check=False, **kw)
            assert result.custom_code == expected, (expected, result.error, result.logs[-4:])
            if expected is None:
                model.settle(fills, auction)
                check_fill_events(f, result.logs, before)
        check_agreement(f, model)


# A book of a few orders first, so that fills have something to trade, then anything.
book = st.lists(place_op, min_size=4, max_size=10)
steps = st.lists(op, min_size=5, max_size=25)


@PROPERTY_SETTINGS
@given(book, steps)
def test_continuous_market_agrees_with_the_model(orders, ops):
    run_sequence(orders + ops, 0)


@PROPERTY_SETTINGS
@given(book, steps)
def test_auction_market_agrees_with_the_model(orders, ops):
    run_sequence(orders + [("wait", SLOT_SECS)] + ops, SLOT_SECS)
