"""Trading through the aggregator on the real programs (LiteSVM) and PostgreSQL: orders
signed by their owners and relayed, matched by the app's matcher, settled on chain and
indexed back into orders, order book and trades."""

from __future__ import annotations

from aggregator.chain.trading import fee_of, value_of
from aggregator.services import services_of
from tests.aggregator.agg_trading_helpers import PAYMENT_UNITS, Floor, floor, wait_for  # noqa: F401  (fixture)

FEE_BPS = 25


async def test_markets_are_read_from_the_chain_with_units(floor: Floor) -> None:
    (market,) = (await floor.http.get("/api/markets")).json()
    assert market["address"] == floor.market and market["matched_here"] is True
    assert market["matcher"] == str(floor.desk.matcher.pubkey())
    assert (market["fee_bps"], market["lot_size_wh"], market["tick_size_per_kwh_micro"]) == (FEE_BPS, 1, 1000)
    assert market["auction_slot_secs"] == 0 and market["next_order_id"] == 0
    assert market["grid_mint"] == str(floor.chain.registry.token.mint_address())
    assert set(market["units"]) == {"energy", "price", "value", "fee"}


async def test_ask_and_bid_are_matched_at_the_maker_s_price_and_settled_on_chain(floor: Floor) -> None:
    seller = await floor.prosumer("seller", 5_000)
    buyer = floor.consumer()
    ask = await floor.place(seller, "sell", 100_000, 3_000)
    bid = await floor.place(buyer, "buy", 120_000, 2_000)  # crosses: trades at the resting ask's price
    await floor.settled(bid, "filled", closed=True)  # filled, then closed by the matcher's crank

    value = value_of(100_000, 2_000)
    fee = fee_of(value, FEE_BPS)
    # GRID to the buyer, value minus fee to the seller; the buyer paid the trade price only
    # (the bid's price improvement came back when the filled bid was closed).
    assert floor.grid(buyer) == 2_000 and floor.grid(seller) == 5_000 - 3_000
    assert floor.payment(seller) == value - fee and floor.fees() == fee
    assert floor.payment(buyer) == PAYMENT_UNITS - value
    assert floor.order_on_chain(bid) is None and floor.order_on_chain(ask).remaining_wh == 1_000

    (trade,) = await floor.trades()
    assert (trade["buyer_wallet"], trade["seller_wallet"]) == (str(buyer.pubkey()), str(seller.pubkey()))
    assert (trade["energy_wh"], trade["price_per_kwh_micro"], trade["value_micro"], trade["fee_micro"]) == (
        2_000, 100_000, value, fee)
    assert trade["buyer_improvement_micro"] == value_of(20_000, 2_000)
    assert [t["id"] for t in await floor.trades(owner=str(seller.pubkey()))] == [trade["id"]]
    a, b = await floor.order(ask), await floor.order(bid)
    assert (a["status"], a["filled_wh"], a["remaining_wh"], a["side"]) == ("partially_filled", 2_000, 1_000, "sell")
    assert (b["status"], b["filled_wh"], b["remaining_wh"]) == ("filled", 2_000, 0)
    book = await floor.book()
    assert book["bids"] == [] and book["asks"] == [{"price_per_kwh_micro": 100_000, "energy_wh": 1_000, "orders": 1}]
    batches = (await floor.http.get("/api/matcher/batches")).json()
    assert [(x["fills"], x["energy_wh"], x["ok"]) for x in batches] == [(1, 2_000, True)]
    assert batches[0]["tx_signature"] == trade["tx_signature"]


async def test_partial_fill_leaves_the_bid_open_and_cancel_returns_its_escrow(floor: Floor) -> None:
    seller = await floor.prosumer("small", 1_000)
    buyer = floor.consumer()
    bid = await floor.place(buyer, "buy", 100_000, 3_000)
    ask = await floor.place(seller, "sell", 90_000, 1_000)  # the bid is the maker: 100_000 per kWh
    await floor.settled(ask, "filled", closed=True)
    await floor.settled(bid, "partially_filled")
    value = value_of(100_000, 1_000)
    assert floor.order_on_chain(bid).remaining_wh == 2_000
    assert floor.payment(buyer) == PAYMENT_UNITS - value_of(100_000, 3_000)  # the rest is still in escrow
    assert (await floor.book())["bids"] == [{"price_per_kwh_micro": 100_000, "energy_wh": 2_000, "orders": 1}]

    from aggregator.trading import client as trading_client
    resp = await trading_client.cancel_order(floor.http, buyer, floor.market, bid, "buy")
    assert resp.status_code == 201 and resp.json()["instructions"] == ["cancel_order"], resp.text
    await floor.settled(bid, "cancelled", closed=True)
    assert floor.payment(buyer) == PAYMENT_UNITS - value and floor.grid(buyer) == 1_000
    assert floor.order_on_chain(bid) is None
    assert await floor.book() == {"market": floor.market, "bids": [], "asks": []}
    assert len(await floor.orders(status="cancelled")) == 1


async def test_orders_of_one_owner_never_trade_with_each_other(floor: Floor) -> None:
    trader = await floor.prosumer("both", 2_000)
    floor.fund_payment(trader, PAYMENT_UNITS)
    ask = await floor.place(trader, "sell", 100_000, 1_000)
    own_bid = await floor.place(trader, "buy", 150_000, 1_000)
    report = await services_of(floor.app).matcher.run_once()
    assert (report.fills, report.refused) == (0, 0)
    assert floor.order_on_chain(ask).remaining_wh == 1_000 and floor.order_on_chain(own_bid).remaining_wh == 1_000
    assert await floor.trades() == []
    book = await floor.book()
    assert (len(book["bids"]), len(book["asks"])) == (1, 1)  # crossed, yet untouched

    # Another buyer at a lower price still takes the ask (the owner's own higher bid is skipped).
    buyer = floor.consumer()
    bid = await floor.place(buyer, "buy", 110_000, 1_000)
    await floor.settled(bid, "filled", closed=True)
    (trade,) = await floor.trades()
    assert (trade["buyer_wallet"], trade["seller_wallet"]) == (str(buyer.pubkey()), str(trader.pubkey()))
    assert (await floor.order(own_bid))["status"] == "open"


async def test_price_time_priority_fills_best_price_then_oldest(floor: Floor) -> None:
    s1, s2 = await floor.prosumer("s1", 1_000), await floor.prosumer("s2", 1_000)
    s3 = await floor.prosumer("s3", 1_000)
    services_of(floor.app).matcher.sweep_s = 3600
    first = await floor.place(s1, "sell", 100_000, 1_000)
    cheaper = await floor.place(s2, "sell", 90_000, 1_000)
    same_later = await floor.place(s3, "sell", 100_000, 1_000)
    buyer = floor.consumer()
    bid = await floor.place(buyer, "buy", 100_000, 1_500)
    await floor.settled(bid, "filled", closed=True)
    await wait_for(lambda: _trade_count(floor, 2))
    assert (await floor.order(cheaper))["status"] == "filled"
    assert (await floor.order(first))["remaining_wh"] == 500
    assert (await floor.order(same_later))["remaining_wh"] == 1_000
    prices = sorted(t["price_per_kwh_micro"] for t in await floor.trades())
    assert prices == [90_000, 100_000]  # each at the resting ask's own price


async def _trade_count(floor: Floor, n: int) -> bool:
    return len(await floor.trades()) == n
