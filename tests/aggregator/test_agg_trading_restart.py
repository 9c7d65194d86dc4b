"""A restart neither loses nor repeats fills: the chain outlives the app (as a cluster
does), orders and a fill land while the app is down, and the restarted app indexes them
and matches only what the chain still allows."""

from __future__ import annotations

from solders.pubkey import Pubkey

from aggregator.chain.connect import local_chain
from aggregator.chain.trading import BID, Fill, fee_of, value_of
from aggregator.trading import local_desk
from tests.aggregator.agg_trading_helpers import PAYMENT_UNITS, Floor, running_app, wait_for


async def test_restart_mid_way_neither_loses_nor_duplicates_fills(pg_dsn: str) -> None:
    chain = local_chain()
    desk = local_desk(chain)
    market = desk.markets[0]
    trading, local = desk.trading, chain.local

    async with running_app(pg_dsn, chain, desk) as (app, http):
        floor = Floor(app, http, chain, desk)
        seller = await floor.prosumer("restart", 4_000)
        buyer = floor.consumer()
        ask = await floor.place(seller, "sell", 100_000, 3_000)
        first_bid = await floor.place(buyer, "buy", 100_000, 1_000)
        await floor.settled(first_bid, "filled", closed=True)

    # The app is down. The buyer places another bid straight on chain, and a settle_fills
    # signed with the matcher's key lands for half of it: as if the matcher's batch landed
    # and the process died before it saw the outcome.
    order_id = trading.read(local, market.address).next_order_id
    local.send([trading.place_order(buyer.pubkey(), market, order_id, side=BID, price_per_kwh=110_000,
                                    size_wh=1_000)], [buyer])
    second_bid = trading.order_address(market.address, order_id)
    local.send([trading.settle_fills(market, [Fill(second_bid, Pubkey.from_string(ask), buyer.pubkey(),
                                                   seller.pubkey(), 500)])], [desk.matcher])

    async with running_app(pg_dsn, chain, desk) as (app, http):
        floor = Floor(app, http, chain, desk)
        await floor.settled(str(second_bid), "filled", closed=True)
        await wait_for(lambda: _trades(floor, 3))
        await floor.quiet()  # one more full pass changes nothing

        trades = await floor.trades()
        assert sorted(t["energy_wh"] for t in trades) == [500, 500, 1_000]
        assert len({(t["tx_signature"], t["fill_index"]) for t in trades}) == 3
        on_chain = trading.read(local, market.address)
        assert on_chain.volume_wh == sum(t["energy_wh"] for t in trades) == 2_000
        assert trading.read(local, Pubkey.from_string(ask)).remaining_wh == 1_000
        assert (await floor.order(ask))["remaining_wh"] == 1_000
        assert floor.grid(buyer) == 2_000 and floor.grid(seller) == 4_000 - 3_000
        values = [value_of(100_000, 1_000), value_of(100_000, 500), value_of(100_000, 500)]  # the ask was the maker
        assert floor.payment(seller) == sum(v - fee_of(v, 25) for v in values)
        assert floor.payment(buyer) == PAYMENT_UNITS - sum(values)  # improvement refunded on close
        # Only the matcher's own batches are recorded: one before the restart, one after.
        batches = (await http.get("/api/matcher/batches")).json()
        assert [(b["energy_wh"], b["ok"]) for b in batches] == [(500, True), (1_000, True)]


async def _trades(floor: Floor, n: int) -> bool:
    return len(await floor.trades()) == n
