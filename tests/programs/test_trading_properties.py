"""Property tests of the trading program: random sequences of deposits and withdrawals,
orders (funded from token accounts or balance accounts), cancels, expiries, refunds of
price improvement, clock moves and fill batches (many of them invalid; proceeds, refunds
and closes credited to token accounts or balance accounts) against a plain-Python model.

After every step the chain must agree with the model exactly — every token balance, every
balance account, every order, every error code — and these invariants are checked
directly as well:
  * conservation: per mint, the sum over traders, vaults and the fee account is constant;
  * the vaults hold exactly what the open orders escrow plus what the balance accounts hold;
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
        # Balance accounts: None until the trader's first deposit creates one.
        self.held: list[list[int] | None] = [None] * TRADERS
        self.orders: list[ModelOrder] = []
        self.now = CHAIN_TIME
        self.cleared_slot = self.clearing_price = 0

    def place(self, owner: int, side: int, price: int, size: int, from_balance: bool = False) -> int | None:
        """None when it succeeds, else the failing program's code (1: SPL insufficient funds)."""
        escrow = size if side == ASK else value_of(price, size)
        if from_balance:
            if self.held[owner] is None:
                return 6107
            return 6129 if self.held[owner][side == BID] < escrow else None
        have = self.grid if side == ASK else self.pay
        return 1 if have[owner] < escrow else None

    def credit(self, owner: int, side: int, amount: int, to_balance: bool) -> None:
        """`amount` of what an order of `side` escrows (GRID for asks) leaves its vault for
        the owner's token account, or stays in the vault credited to the owner's balance."""
        if to_balance:
            self.held[owner][side == BID] += amount
        elif side == ASK:
            self.grid[owner] += amount
            self.grid_vault -= amount
        else:
            self.pay[owner] += amount
            self.pay_vault -= amount

    def deposit(self, owner: int, side: int, amount: int) -> int | None:
        if amount == 0:
            return 6130
        if (self.grid if side == ASK else self.pay)[owner] < amount:
            return 1
        if self.held[owner] is None:
            self.held[owner] = [0, 0]
        self.held[owner][side == BID] += amount
        if side == ASK:
            self.grid[owner] -= amount
            self.grid_vault += amount
        else:
            self.pay[owner] -= amount
            self.pay_vault += amount
        return None

    def withdraw(self, owner: int, side: int, amount: int) -> int | None:
        if amount == 0:
            return 6130
        if self.held[owner] is None:
            return 6107
        if self.held[owner][side == BID] < amount:
            return 6129
        self.held[owner][side == BID] -= amount
        self.credit(owner, side, amount, False)
        return None

    def close(self, order: ModelOrder, to_balance: bool = False) -> None:
        self.credit(order.owner, order.side, order.escrow, to_balance)
        order.escrow, order.open = 0, False

    def refund(self, order: ModelOrder, to_balance: bool = False) -> int | None:
        """refund_improvement of one order: the error code, or None after paying the surplus."""
        if not order.open:
            return 6112
        if order.side != BID:
            return 6118
        surplus = order.escrow - value_of(order.price, order.remaining)
        if surplus == 0:
            return None
        if to_balance and self.held[order.owner] is None:
            return 6107
        order.escrow -= surplus
        self.credit(order.owner, BID, surplus, to_balance)
        return None

    def expire_error(self, order: ModelOrder) -> int | None:
        if not order.open:
            return 6112
        if order.remaining == 0 or order.expired(self.now):
            return None
        return 6111

    def settle_error(self, fills: list[tuple[ModelOrder, ModelOrder, int, bool]],
                     auction: tuple[int, int] | None) -> int | None:
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
        state = {id(o): (o.remaining, o.escrow) for b, a, _, _ in fills for o in (b, a)}
        for bid, ask, size, to_balance in fills:
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
            if to_balance and (self.held[bid.owner] is None or self.held[ask.owner] is None):
                return 6107
            value = value_of(price, size)
            state[id(bid)] = (b_rem - size, state[id(bid)][1] - value)
            state[id(ask)] = (a_rem - size, state[id(ask)][1] - size)
        return None

    def settle(self, fills: list[tuple[ModelOrder, ModelOrder, int, bool]], auction: tuple[int, int] | None) -> None:
        for bid, ask, size, to_balance in fills:
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
            self.credit(bid.owner, ASK, size, to_balance)
            self.credit(ask.owner, BID, value - fee, to_balance)
            self.pay_vault -= fee
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
    # Balance accounts hold what the model says; none exists before a deposit.
    assert [None if f.trading.read(f.chain, f.balance_account(t)) is None else list(f.held(t))
            for t in traders] == model.held
    # The vaults hold exactly what open orders escrow plus what balance accounts hold.
    open_orders = [o for o in model.orders if o.open]
    held = [h for h in model.held if h is not None]
    assert model.grid_vault == sum(o.escrow for o in open_orders if o.side == ASK) + sum(h[0] for h in held)
    assert model.pay_vault == sum(o.escrow for o in open_orders if o.side == BID) + sum(h[1] for h in held)
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


# Orders and moves to balances mostly use token accounts, sometimes balance accounts.
via_balance = st.booleans()
place_op = st.tuples(st.just("place"), st.integers(0, TRADERS - 1), st.sampled_from([ASK, BID]),
                     st.sampled_from(PRICES), st.integers(1, 4_000), st.sampled_from([0, 0, 0, 240, 900]), via_balance)
settle_op = st.tuples(st.just("settle"),
                      st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30),
                                         st.sampled_from([100, 100, 75, 50, 25, 10, 0, 110]),
                                         st.sampled_from([False] * 5 + [True]), via_balance), min_size=1, max_size=4),
                      st.sampled_from([0] * 6 + [-1, 1]), st.sampled_from(PRICES + [None] * 4))
move_op = st.tuples(st.sampled_from(["deposit", "deposit", "withdraw"]), st.integers(0, TRADERS - 1),
                    st.sampled_from([ASK, BID]), st.sampled_from([0, 1, 500, 4_000, 200_000, 5_000_000]))
op = st.one_of(
    place_op, settle_op, settle_op, move_op,
    st.tuples(st.just("cancel"), st.integers(0, 30), via_balance),
    st.tuples(st.just("expire"), st.integers(0, 30), via_balance),
    st.tuples(st.just("refund"), st.integers(0, 30), st.sampled_from([False] * 3 + [True]), via_balance),
    st.tuples(st.just("wait"), st.sampled_from([30, 120, 300, 700])),
)


def clearing_price(model: Model, slot: int, fills) -> int:
    """A price every fill of the batch accepts, or the slot's price if already cleared."""
    if model.clearing_price and slot == model.cleared_slot:
        return model.clearing_price
    return max(ask.price for _, ask, _, _ in fills)


# Fills mostly pair an open bid with a crossing open ask of another owner (so many batches
# succeed); sometimes any two orders at all (closed, filled, same side, same owner); sizes
# are a share of what remains, up to 10 % beyond it. Auction prices are mostly consistent.
def pick_fills(model: Model, picks, slot_end: int | None) -> list[tuple[ModelOrder, ModelOrder, int, bool]]:
    orders = model.orders

    def tradable(o: ModelOrder) -> bool:
        return (o.open and o.remaining > 0 and not o.expired(model.now)
                and (slot_end is None or o.placed_at < slot_end))

    fills = []
    for b, a, share, anything, to_balance in picks:
        bids = orders if anything else [o for o in orders if o.side == BID and tradable(o)]
        if not bids:
            continue
        bid = bids[b % len(bids)]
        asks = orders if anything else [o for o in orders if o.side == ASK and tradable(o)
                                        and o.owner != bid.owner and o.price <= bid.price]
        if not asks:
            continue
        ask = asks[a % len(asks)]
        fills.append((bid, ask, min(bid.remaining, ask.remaining) * share // 100, to_balance))
    return fills


def run_sequence(ops, slot_secs: int) -> None:
    f = Floor.create()
    f.open_market(auction_slot_secs=slot_secs)
    f.add_traders(TRADERS, grid_wh=GRID_WH, payment=PAYMENT)
    model = Model(slot_secs)
    for step in ops:
        kind = step[0]
        if kind == "place":
            _, who, side, price, size, ttl, from_balance = step
            trader = f.traders[who]
            expires_at = model.now + ttl if ttl else 0
            expected = model.place(who, side, price, size, from_balance)
            address, result = f.place(trader, side, price, size, expires_at=expires_at, check=False,
                                      from_balance=from_balance)
            assert result.custom_code == expected, result.logs[-4:]
            if expected is None:
                escrow = size if side == ASK else value_of(price, size)
                if from_balance:
                    model.held[who][side == BID] -= escrow
                elif side == ASK:
                    model.grid[who] -= escrow
                    model.grid_vault += escrow
                else:
                    model.pay[who] -= escrow
                    model.pay_vault += escrow
                model.orders.append(ModelOrder(address, who, len(model.orders), side, price, size, escrow,
                                               model.now, expires_at))
        elif kind in ("deposit", "withdraw"):
            _, who, side, amount = step
            trader = f.traders[who]
            build = f.trading.deposit if kind == "deposit" else f.trading.withdraw
            expected = getattr(model, kind)(who, side, amount)
            result = f.chain.send([build(trader.pubkey, f.market, amount, side=side)], [trader.wallet], check=False)
            assert result.custom_code == expected, result.logs[-4:]
        elif kind in ("cancel", "expire") and model.orders:
            order = model.orders[step[1] % len(model.orders)]
            owner = f.traders[order.owner]
            to_balance = step[2]
            destination = f.balance_account(owner) if to_balance else None
            if kind == "cancel":
                ix = f.trading.cancel_order(owner.pubkey, f.market, order.address, order.side, destination)
                expected = None if order.open else 6112
                result = f.chain.send([ix], [owner.wallet], check=False)
            else:
                ix = f.trading.expire_order(owner.pubkey, f.market, order.address, order.side, destination)
                expected = model.expire_error(order)
                result = f.chain.send([ix], [f.matcher], check=False)
            if expected is None and to_balance and model.held[order.owner] is None:
                expected = 6107
            assert result.custom_code == expected, result.logs[-4:]
            if expected is None:
                model.close(order, to_balance)
        elif kind == "refund" and model.orders:
            # Mostly a bid that has earned price improvement; sometimes any order at all.
            earned = [o for o in model.orders
                      if o.side == BID and o.open and o.escrow > value_of(o.price, o.remaining)]
            candidates = model.orders if step[2] else earned or model.orders
            order = candidates[step[1] % len(candidates)]
            owner = f.traders[order.owner]
            ix = f.trading.refund_improvement(f.market, [(order.address, owner.pubkey)], to_balance=step[3])
            result = f.chain.send([ix], [f.matcher], check=False)
            assert result.custom_code == model.refund(order, step[3]), result.logs[-4:]
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
            chain_fills = [Fill(b.address, a.address, f.traders[b.owner].pubkey, f.traders[a.owner].pubkey, size,
                                *((f.balance_account(f.traders[b.owner]), f.balance_account(f.traders[a.owner]))
                                  if to_balance else ()))
                           for b, a, size, to_balance in fills]
            kw = {"auction_slot": auction[0], "clearing_price": auction[1]} if auction else {}
            result = f.settle(chain_fills, check=False, **kw)
            assert result.custom_code == expected, (expected, result.error, result.logs[-4:])
            if expected is None:
                model.settle(fills, auction)
                check_fill_events(f, result.logs, before)
        check_agreement(f, model)


# Some deposits and a book of a few orders first, so that balances can fund orders and
# fills have something to trade, then anything.
deposits = st.lists(st.tuples(st.just("deposit"), st.integers(0, TRADERS - 1), st.sampled_from([ASK, BID]),
                              st.sampled_from([4_000, 10_000, 400_000, 1_000_000])), min_size=2, max_size=6)
book = st.lists(place_op, min_size=4, max_size=10)
steps = st.lists(op, min_size=5, max_size=25)


@PROPERTY_SETTINGS
@given(deposits, book, steps)
def test_continuous_market_agrees_with_the_model(moves, orders, ops):
    run_sequence(moves + orders + ops, 0)


@PROPERTY_SETTINGS
@given(deposits, book, steps)
def test_auction_market_agrees_with_the_model(moves, orders, ops):
    run_sequence(moves + orders + [("wait", SLOT_SECS)] + ops, SLOT_SECS)
