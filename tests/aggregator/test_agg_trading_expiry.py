"""Order expiry through the aggregator (real programs in LiteSVM, real PostgreSQL): the
matcher sends expire_order for orders past their expiry on the chain's clock, the escrow
goes back to the owner, the indexer closes the order as expired, and an expired order
never trades. The chain's clock is moved by hand, so nothing here waits on wall time."""

from __future__ import annotations

from aggregator.chain.trading import fee_of, value_of
from aggregator.services import services_of
from tests.aggregator.agg_trading_helpers import PAYMENT_UNITS, Floor, floor  # noqa: F401  (fixture)

EXPIRY_S = 60


async def test_an_expired_bid_is_refunded_closed_and_never_matched(floor: Floor) -> None:
    seller = await floor.prosumer("late-seller", 2_000)
    buyer = floor.consumer()
    now = floor.chain_time()
    bid = await floor.place(buyer, "buy", 100_000, 2_000, expires_at=now + EXPIRY_S)
    assert floor.payment(buyer) == PAYMENT_UNITS - value_of(100_000, 2_000)  # escrowed while it lives

    # The expiry itself: the program counts `now >= expires_at` as expired.
    floor.chain.local.set_time(now + EXPIRY_S)
    ask = await floor.place(seller, "sell", 90_000, 2_000)  # would cross the bid, were it alive
    await floor.settled(bid, "expired", closed=True)

    assert floor.order_on_chain(bid) is None and floor.payment(buyer) == PAYMENT_UNITS
    assert floor.order_on_chain(ask).remaining_wh == 2_000 and floor.grid(buyer) == 0
    report = await services_of(floor.app).matcher.run_once()  # another full pass: nothing to trade, nothing to expire
    assert (report.fills, report.expired) == (0, 0)
    await services_of(floor.app).indexer.sync_once()
    assert await floor.trades() == []
    assert [o["order_address"] for o in await floor.orders(status="expired")] == [bid]
    assert (await floor.order(ask))["status"] == "open"
    assert (await floor.book())["bids"] == []


async def test_a_partly_filled_ask_that_expires_returns_the_rest_of_its_energy(floor: Floor) -> None:
    seller = await floor.prosumer("expiring", 3_000)
    buyer = floor.consumer()
    now = floor.chain_time()
    ask = await floor.place(seller, "sell", 100_000, 3_000, expires_at=now + EXPIRY_S)
    bid = await floor.place(buyer, "buy", 100_000, 1_000)
    await floor.settled(bid, "filled", closed=True)
    await floor.settled(ask, "partially_filled")
    assert floor.grid(seller) == 0  # 1,000 Wh sold, 2,000 Wh in escrow

    floor.chain.local.set_time(now + EXPIRY_S + 1)
    services_of(floor.app).matcher.wake()  # as the sweep or the expiry deadline would
    await floor.settled(ask, "expired", closed=True)
    assert floor.grid(seller) == 2_000 and floor.order_on_chain(ask) is None
    value = value_of(100_000, 1_000)
    assert floor.payment(seller) == value - fee_of(value, 25)
    expired = await floor.order(ask)
    assert (expired["filled_wh"], expired["remaining_wh"]) == (1_000, 2_000)
