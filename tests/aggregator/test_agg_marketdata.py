"""Market data through the API and the live per-market channel over a real WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.aggregator.agg_served import served_floor
from tests.aggregator.test_agg_actions import act


async def recv(ws: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s))


def apply(book: dict[tuple[str, int], tuple[int, int]], changes: list[dict[str, Any]]) -> None:
    for c in changes:
        key = (c["side"], c["price_per_kwh_micro"])
        if c["energy_wh"]:
            book[key] = (c["energy_wh"], c["orders"])
        else:
            book.pop(key, None)


async def test_depth_trades_candles_stats_and_the_live_channel(pg_dsn: str) -> None:
    async with served_floor(pg_dsn) as (floor, url):
        seller = await floor.prosumer("md-seller", 3_000)
        await floor.place(seller, "sell", 100_000, 1_000)
        live_url = url.replace("http", "ws") + f"/api/markets/{floor.market}/live"
        async with websockets.connect(live_url) as ws:
            snap = await recv(ws)
            assert snap["type"] == "snapshot" and snap["seq"] == 0 and snap["trades"] == []
            assert snap["asks"] == [{"side": "sell", "price_per_kwh_micro": 100_000, "energy_wh": 1_000, "orders": 1}]
            book = {(lv["side"], lv["price_per_kwh_micro"]): (lv["energy_wh"], lv["orders"])
                    for lv in snap["bids"] + snap["asks"]}

            await floor.place(seller, "sell", 120_000, 2_000)
            msg = await recv(ws)
            assert (msg["type"], msg["seq"]) == ("book", 1)
            apply(book, msg["changes"])
            assert book == {("sell", 100_000): (1_000, 1), ("sell", 120_000): (2_000, 1)}

            buyer = floor.consumer()
            await act(floor, buyer, "buy-now", energy_wh=1_500)
            seen: list[dict[str, Any]] = []
            seq = 1
            while book != {("sell", 120_000): (1_500, 1)}:
                msg = await recv(ws)
                if msg["type"] == "book":
                    assert msg["seq"] == seq + 1
                    seq = msg["seq"]
                    apply(book, msg["changes"])
                else:
                    seen.append(msg)
            while len(seen) < 2:
                seen.append(await recv(ws))
            assert [(t["type"], t["energy_wh"], t["price_per_kwh_micro"]) for t in seen] == \
                [("trade", 1_000, 100_000), ("trade", 500, 120_000)]
            assert all(t["buyer_wallet"] == str(buyer.pubkey()) for t in seen)

        depth = (await floor.http.get(f"/api/markets/{floor.market}/depth")).json()
        assert depth["asks"] == [{"price_per_kwh_micro": 120_000, "energy_wh": 1_500, "orders": 1,
                                  "cumulative_wh": 1_500}]
        assert depth["best_ask"] == 120_000 and depth["best_bid"] is None and depth["spread"] is None
        trades = (await floor.http.get(f"/api/markets/{floor.market}/trades")).json()
        assert [t["energy_wh"] for t in trades] == [500, 1_000]
        for interval in ("15m", "1h", "1d"):
            c = (await floor.http.get(f"/api/markets/{floor.market}/candles", params={"interval": interval})).json()
            (candle,) = c["candles"]
            assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (100_000, 120_000, 100_000,
                                                                                      120_000)
            assert (candle["volume_wh"], candle["trades"], candle["value_micro"]) == (1_500, 2, 160_000)
        stats = (await floor.http.get(f"/api/markets/{floor.market}/stats")).json()
        assert (stats["last"], stats["open"], stats["change"], stats["volume_wh"], stats["trades"]) == \
            (120_000, 100_000, 20_000, 1_500, 2)
        assert stats["vwap"] == 160_000 * 1000 // 1_500 and stats["best_ask"] == 120_000

        unknown = url.replace("http", "ws") + "/api/markets/11111111111111111111111111111111/live"
        async with websockets.connect(unknown) as ws:
            assert (await recv(ws))["reason"] == "unknown_market"
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 4404
        missing = await floor.http.get("/api/markets/11111111111111111111111111111111/stats")
        assert missing.status_code == 404 and missing.json()["error"]["reason"] == "unknown_market"
