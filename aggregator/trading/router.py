"""REST: markets (from the chain), the signed-transaction relay, and the indexed orders,
order book, trades and matcher batches."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request

from aggregator.errors import Conflict, NotFound
from aggregator.trading import repository as repo
from aggregator.trading import service
from aggregator.trading.desk import TradingDesk
from aggregator.trading.schemas import (Market, MatchBatch, Order, OrderBook, PriceLevel, RelayRequest,
                                        RelayResult, Trade)

router = APIRouter(tags=["trading"])

Status = Literal["open", "partially_filled", "filled", "cancelled", "expired"]


def _desk(request: Request) -> TradingDesk:
    desk = request.app.state.trading_desk
    if desk is None:
        raise Conflict("no_chain", "this service runs without a chain: trading is off")
    return desk


@router.get("/api/markets", response_model=list[Market])
async def list_markets(request: Request) -> list[Market]:
    """Markets this service serves, as their accounts on chain say now."""
    desk = _desk(request)
    return await service.markets(request.app.state.chain_handle.backend, desk)


@router.post("/api/transactions", response_model=RelayResult, status_code=201)
async def relay_transaction(body: RelayRequest, request: Request) -> RelayResult:
    """Send a transaction the user signed (orders: place/cancel/expire, refunds; certificates:
    issue, transfer, retire, expire) to the chain."""
    allowed = request.app.state.relay_allowlist
    if not allowed:
        raise Conflict("no_chain", "this service runs without a chain: nothing can be relayed")
    gate = getattr(request.app.state, "relay_gate", None)
    if gate is None:
        gate = request.app.state.relay_gate = service.RelayGate()
    return await gate.relay(request.app.state.chain_handle.backend, allowed, body.transaction)


@router.get("/api/orders", response_model=list[Order])
async def list_orders(request: Request, owner: str | None = Query(None, max_length=44),
                      market: str | None = Query(None, max_length=44), status: Status | None = None,
                      limit: int = Query(100, ge=1, le=1000)) -> list[Order]:
    """Orders as the chain recorded them (indexed), newest first."""
    async with request.app.state.pool.acquire() as conn:
        rows = await repo.list_orders(conn, owner=owner, market=market, status=status, limit=limit)
    return [Order(**dict(r)) for r in rows]


@router.get("/api/orderbook", response_model=OrderBook)
async def order_book(request: Request, market: str = Query(..., max_length=44)) -> OrderBook:
    """Depth by price level of the market's open orders."""
    if _desk(request).market(market) is None:
        raise NotFound("unknown_market", f"this service does not serve market {market}")
    async with request.app.state.pool.acquire() as conn:
        rows = await repo.order_book(conn, market)
    levels = {side: [PriceLevel(price_per_kwh_micro=r["price_per_kwh_micro"], energy_wh=r["energy_wh"],
                                orders=r["orders"]) for r in rows if r["side"] == side] for side in ("buy", "sell")}
    return OrderBook(market=market, bids=levels["buy"][::-1], asks=levels["sell"])


@router.get("/api/trades", response_model=list[Trade])
async def list_trades(request: Request, market: str | None = Query(None, max_length=44),
                      owner: str | None = Query(None, max_length=44, description="buyer or seller wallet"),
                      limit: int = Query(100, ge=1, le=1000)) -> list[Trade]:
    """Settled fills as the chain reported them, newest first."""
    async with request.app.state.pool.acquire() as conn:
        rows = await repo.list_trades(conn, market=market, owner=owner, limit=limit)
    return [Trade(**dict(r)) for r in rows]


@router.get("/api/matcher/batches", response_model=list[MatchBatch])
async def list_match_batches(request: Request, market: str | None = Query(None, max_length=44),
                             limit: int = Query(100, ge=1, le=1000)) -> list[MatchBatch]:
    """settle_fills transactions the matcher sent and the chain's answer, newest first."""
    async with request.app.state.pool.acquire() as conn:
        rows = await repo.list_batches(conn, market, limit)
    return [MatchBatch(**dict(r)) for r in rows]
