"""REST and WebSocket: a market's depth, trades, candles, 24 h statistics and live channel."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, WebSocket, WebSocketDisconnect

from aggregator.deps import AppServices, Hub, Pool
from aggregator.errors import NotFound
from aggregator.marketdata import live
from aggregator.marketdata import repository as repo
from aggregator.marketdata.schemas import Candle, Candles, Depth, DepthLevel, MarketTrade, Stats24h
from aggregator.trading import repository as trading_repo

router = APIRouter(tags=["market data"])

MarketPath = Annotated[str, Path(max_length=44, description="market address (base58)")]


def _served(services: AppServices, market: str) -> None:
    if services.trading_desk is None or services.trading_desk.market(market) is None:
        raise NotFound("unknown_market", f"this service does not serve market {market}")


def _cumulative(rows: list[dict]) -> list[DepthLevel]:
    total, out = 0, []
    for r in rows:
        total += r["energy_wh"]
        out.append(DepthLevel(price_per_kwh_micro=r["price_per_kwh_micro"], energy_wh=r["energy_wh"],
                              orders=r["orders"], cumulative_wh=total))
    return out


async def _depth(pool: Pool, market: str, levels: int) -> Depth:
    async with pool.acquire() as conn:
        rows = [dict(r) for r in await trading_repo.order_book(conn, market)]
    buys = sorted((r for r in rows if r["side"] == "buy"), key=lambda r: -r["price_per_kwh_micro"])
    sells = sorted((r for r in rows if r["side"] == "sell"), key=lambda r: r["price_per_kwh_micro"])
    bids, asks = _cumulative(buys[:levels]), _cumulative(sells[:levels])
    best_bid = bids[0].price_per_kwh_micro if bids else None
    best_ask = asks[0].price_per_kwh_micro if asks else None
    spread = best_ask - best_bid if best_bid is not None and best_ask is not None else None
    return Depth(market=market, bids=bids, asks=asks, best_bid=best_bid, best_ask=best_ask, spread=spread)


@router.get("/api/markets/{market}/depth", response_model=Depth)
async def depth(market: MarketPath, services: AppServices, pool: Pool,
                levels: int = Query(50, ge=1, le=500, description="price levels per side")) -> Depth:
    """Open orders summed by price level, best first, with cumulative energy."""
    _served(services, market)
    return await _depth(pool, market, levels)


@router.get("/api/markets/{market}/trades", response_model=list[MarketTrade])
async def trades(market: MarketPath, services: AppServices, pool: Pool,
                 limit: int = Query(100, ge=1, le=1000)) -> list[MarketTrade]:
    """The market's settled fills, newest first."""
    _served(services, market)
    async with pool.acquire() as conn:
        rows = await repo.recent_trades(conn, market, limit)
    return [MarketTrade(**dict(r)) for r in rows]


@router.get("/api/markets/{market}/candles", response_model=Candles)
async def candles(market: MarketPath, services: AppServices, pool: Pool,
                  interval: Literal["15m", "1h", "1d"] = "1h", since: datetime | None = None,
                  until: datetime | None = None, limit: int = Query(200, ge=1, le=2000)) -> Candles:
    """Open, high, low, close and volume per 15 minutes, hour or day (UTC-aligned)."""
    _served(services, market)
    async with pool.acquire() as conn:
        rows = await repo.candles(conn, market, interval, since, until, limit)
    return Candles(market=market, interval=interval, candles=[Candle(**dict(r)) for r in rows])


@router.get("/api/markets/{market}/stats", response_model=Stats24h)
async def stats(market: MarketPath, services: AppServices, pool: Pool) -> Stats24h:
    """The last 24 hours: last price, open, high, low, change, volume, VWAP; best bid and ask now."""
    _served(services, market)
    async with pool.acquire() as conn:
        r = dict(await repo.stats_24h(conn, market))
    top = await _depth(pool, market, 1)
    change = r["last"] - r["open"] if r["last"] is not None and r["open"] is not None else None
    return Stats24h(market=market, change=change, best_bid=top.best_bid, best_ask=top.best_ask, **r)


@router.websocket("/api/markets/{market}/live")
async def live_channel(ws: WebSocket, market: str, services: AppServices, pool: Pool, hub: Hub) -> None:
    """Book snapshot, then book deltas with sequence numbers and trades (:mod:`aggregator.marketdata.live`).
    An unknown market gets an error message and close code 4404."""
    await ws.accept()
    if services.trading_desk is None or services.trading_desk.market(market) is None:
        await ws.send_json({"type": "error", "reason": "unknown_market",
                            "message": f"this service does not serve market {market}"})
        await ws.close(code=4404)
        return
    closed = asyncio.ensure_future(_until_closed(ws))
    try:
        await live.serve(ws, pool, hub, market, closed)
    except WebSocketDisconnect:
        pass
    finally:
        closed.cancel()


async def _until_closed(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass
