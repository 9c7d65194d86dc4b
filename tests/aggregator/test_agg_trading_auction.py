"""Uniform-price auctions through the aggregator (real programs in LiteSVM, real
PostgreSQL): orders collect during a market slot; once the slot is over on the chain's
clock the matcher settles them all at one clearing price, and what does not trade stays
on the book for the next slot. The chain's clock is moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from solders.pubkey import Pubkey

from aggregator.chain.connect import local_chain
from aggregator.chain.trading import fee_of, value_of
from aggregator.trading import Matcher, local_desk
from aggregator.trading.auction import plan_auction
from aggregator.services import services_of
from tests.aggregator.agg_trading_helpers import PAYMENT_UNITS, Floor, running_app, wait_for

SLOT_S = 60
FEE_BPS = 25


@pytest.fixture
async def auction(pg_dsn: str) -> AsyncIterator[Floor]:
    """The app with a continuous market and a 60 s auction market; orders go to the auction."""
    chain = local_chain()
    desk = local_desk(chain, auction_slot_secs=[SLOT_S])
    async with running_app(pg_dsn, chain, desk) as (app, http):
        yield Floor(app, http, chain, desk, market_index=1)


async def _trades(floor: Floor, n: int) -> bool:
    return len(await floor.trades()) == n


async def test_a_slot_clears_at_one_price_and_leftovers_wait_for_the_next(auction: Floor) -> None:
    floor = auction
    s1, s2 = await floor.prosumer("a-s1", 1_000), await floor.prosumer("a-s2", 1_000)
    s3, s4 = await floor.prosumer("a-s3", 1_000), await floor.prosumer("a-s4", 1_000)
    b1, b2, b3 = floor.consumer(), floor.consumer(), floor.consumer()
    start = (floor.chain_time() // SLOT_S + 1) * SLOT_S
    slot = start // SLOT_S
    floor.chain.local.set_time(start)  # the first second of the slot

    # Demand: 3,500 Wh up to 100_000, 2,500 up to 120_000, 1,000 up to 130_000.
    # Supply: 1,000 Wh from 90_000, 2,000 from 110_000, 3,000 from 125_000.
    # Matched volume peaks at 2,000 Wh for every price in [110_000, 120_000]: midpoint 115_000.
    a1 = await floor.place(s1, "sell", 90_000, 1_000)
    a2 = await floor.place(s2, "sell", 110_000, 1_000)
    a3 = await floor.place(s3, "sell", 125_000, 1_000)
    o1 = await floor.place(b1, "buy", 130_000, 1_000)
    o2 = await floor.place(b2, "buy", 120_000, 1_500)
    o3 = await floor.place(b3, "buy", 100_000, 1_000)
    # Crossed, but the slot is not over: nothing trades yet.
    assert (await services_of(floor.app).matcher.run_once()).fills == 0
    assert await floor.trades() == []

    floor.chain.local.set_time(start + SLOT_S)
    services_of(floor.app).matcher.wake()  # as the slot-end deadline would
    await wait_for(lambda: _trades(floor, 2))
    await floor.settled(o1, "filled", closed=True)
    trades = await floor.trades()
    assert {t["price_per_kwh_micro"] for t in trades} == {115_000}
    assert sorted((t["buyer_wallet"], t["seller_wallet"], t["energy_wh"]) for t in trades) == sorted([
        (str(b1.pubkey()), str(s1.pubkey()), 1_000), (str(b2.pubkey()), str(s2.pubkey()), 1_000)])
    market = floor.desk.trading.read(floor.chain.local, Pubkey.from_string(floor.market))
    assert (market.cleared_slot, market.clearing_price) == (slot, 115_000)

    # Every buyer paid the clearing price (the improvement over its limit came back), every
    # seller received it less the fee; nobody traded outside its limit or beyond its size.
    value = value_of(115_000, 1_000)
    await floor.quiet()
    assert floor.payment(b1) == PAYMENT_UNITS - value and floor.grid(b1) == 1_000
    assert floor.payment(b2) == PAYMENT_UNITS - value - value_of(120_000, 500)  # 500 Wh still escrowed
    assert floor.payment(s1) == floor.payment(s2) == value - fee_of(value, FEE_BPS)
    assert floor.fees() == 2 * fee_of(value, FEE_BPS)
    status = {o["order_address"]: (o["status"], o["remaining_wh"]) for o in await floor.orders()}
    assert status == {a1: ("filled", 0), a2: ("filled", 0), a3: ("open", 1_000), o1: ("filled", 0),
                      o2: ("partially_filled", 500), o3: ("open", 1_000)}

    # The next slot: the leftovers (bids 500 @ 120_000 and 1,000 @ 100_000, ask 1,000 @
    # 125_000) meet a new ask of 500 @ 100_000. Volume peaks at 500 Wh on [100_000, 120_000].
    a4 = await floor.place(s4, "sell", 100_000, 500)
    assert (await services_of(floor.app).matcher.run_once()).fills == 0  # slot + 1 is not over yet
    floor.chain.local.set_time(start + 2 * SLOT_S)
    services_of(floor.app).matcher.wake()
    await wait_for(lambda: _trades(floor, 3))
    await floor.settled(o2, "filled", closed=True)
    (latest,) = [t for t in await floor.trades() if t["price_per_kwh_micro"] != 115_000]
    assert (latest["price_per_kwh_micro"], latest["energy_wh"], latest["seller_wallet"]) == (
        110_000, 500, str(s4.pubkey()))
    assert (await floor.order(a4))["status"] == "filled"
    assert [(await floor.order(a))["status"] for a in (a3, o3)] == ["open", "open"]
    report = await services_of(floor.app).matcher.run_once()  # the slot is done: nothing more to trade in it
    assert (report.fills, report.refused) == (0, 0)
    # The continuous market beside it saw none of this.
    continuous = floor.desk.trading.read(floor.chain.local, floor.desk.markets[0].address)
    assert continuous.volume_wh == 0


async def test_a_slot_cleared_part_way_is_finished_at_its_recorded_price(pg_dsn: str) -> None:
    """A batch of the slot landed (say, before a crash) at a price the matcher would not
    pick for what is left; the rest of the slot must trade at that price, as the program
    requires, not at a fresh clearing of the remainder."""
    chain = local_chain()
    desk = local_desk(chain, auction_slot_secs=[SLOT_S])
    async with running_app(pg_dsn, chain, desk, matcher=False) as (app, http):
        floor = Floor(app, http, chain, desk, market_index=1)
        s1, s2 = await floor.prosumer("p-s1", 1_000), await floor.prosumer("p-s2", 1_000)
        b1, b2 = floor.consumer(), floor.consumer()
        start = (floor.chain_time() // SLOT_S + 1) * SLOT_S
        floor.chain.local.set_time(start)
        await floor.place(s1, "sell", 90_000, 1_000)
        await floor.place(s2, "sell", 110_000, 1_000)
        first = await floor.place(b1, "buy", 130_000, 1_000)
        await floor.place(b2, "buy", 120_000, 1_000)
        floor.chain.local.set_time(start + SLOT_S)

        matcher = Matcher(services_of(app).pool, chain.backend, desk.trading, desk.markets, desk.matcher)
        market = desk.markets[1]
        book = [o for o in await matcher._book(market) if str(o.address) == first or o.price_per_kwh == 90_000]
        (head,) = plan_auction(book, 120_000, now=start + SLOT_S, lot_size_wh=1)
        assert (await matcher.settle(market, [head], auction_slot=start // SLOT_S, clearing_price=120_000)).fills == 1
        # What is left (120_000 bid, 110_000 ask) would clear at 115_000 on its own.
        assert (await matcher.run_once()).fills == 1
        await services_of(app).indexer.sync_once()
        assert sorted(t["price_per_kwh_micro"] for t in await floor.trades()) == [120_000, 120_000]
