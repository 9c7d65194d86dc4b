"""REST: markets (from the chain), the signed-transaction relay, and the indexed orders,
order book, trades and matcher batches."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from solders.pubkey import Pubkey

from aggregator.chain.connect import Chain
from aggregator.chain.transactions import decompile
from aggregator.deps import AppServices, Pool
from aggregator.errors import AuthError, Conflict, NotFound
from aggregator.trading import repository as repo
from aggregator.trading import service
from aggregator.trading.desk import TradingDesk
from aggregator.trading.schemas import (
    Market,
    MatchBatch,
    Order,
    OrderBook,
    PriceLevel,
    RelayRequest,
    RelayResult,
    Trade,
)
from aggregator.users.tokens import MaybeReader, Reader, require_wallet

router = APIRouter(tags=["trading"])

Status = Literal["open", "partially_filled", "filled", "cancelled", "expired"]


def _desk(services: AppServices) -> TradingDesk:
    if services.trading_desk is None:
        raise Conflict("no_chain", "this service runs without a chain: trading is off")
    return services.trading_desk


def _chain(services: AppServices) -> Chain:
    if services.chain_handle is None:
        raise Conflict("no_chain", "this service runs without a chain: trading is off")
    return services.chain_handle


Desk = Annotated[TradingDesk, Depends(_desk)]
OpenChain = Annotated[Chain, Depends(_chain)]


@router.get("/api/markets", response_model=list[Market])
async def list_markets(desk: Desk, chain: OpenChain) -> list[Market]:
    """Markets this service serves, as their accounts on chain say now."""
    return await service.markets(chain.backend, desk)


@router.post("/api/transactions", response_model=RelayResult, status_code=201)
async def relay_transaction(body: RelayRequest, services: AppServices) -> RelayResult:
    """Send a transaction the user signed (orders: place/cancel/expire, refunds; certificates:
    issue, transfer, retire, expire) to the chain."""
    if not services.relay_allowlist or services.chain_handle is None:
        raise Conflict("no_chain", "this service runs without a chain: nothing can be relayed")
    placed = await _await_order_turn(services, body.transaction)
    try:
        result = await services.relay_gate.relay(services.chain_handle.backend, services.relay_allowlist,
                                                 body.transaction)
    finally:
        if placed is not None:
            await services.order_sequencer.landed(placed)
    if services.indexer is not None:
        services.indexer.wake()  # index what just landed now, not at the next poll
    return result


async def _await_order_turn(services: AppServices, encoded: str) -> Pubkey | None:
    """For a place_order whose id the sequencer handed out: wait until the ids before it
    landed (bounded; :mod:`aggregator.actions.sequencer`). The order's market, if any."""
    desk, handle = services.trading_desk, services.chain_handle
    if desk is None or handle is None:
        return None
    tx = service.parse_transaction(encoded)
    for ix in decompile(tx.message):
        is_trading = ix.program_id == desk.trading.program_id
        if is_trading and desk.trading.program.instruction_name(ix.data) == "place_order" and len(ix.accounts) >= 3:
            market, order = ix.accounts[1].pubkey, ix.accounts[2].pubkey

            async def chain_next(market: Pubkey = market) -> int:
                account = await handle.backend.account(market)
                return -1 if account is None else int(desk.trading.decode(bytes(account.data)).next_order_id)

            await services.order_sequencer.wait_turn(market, order, chain_next)
            return market
    return None


@router.get("/api/orders", response_model=list[Order])
async def list_orders(reader: Reader, pool: Pool, owner: str | None = Query(None, max_length=44),
                      market: str | None = Query(None, max_length=44), status: Status | None = None,
                      limit: int = Query(100, ge=1, le=1000)) -> list[Order]:
    """Orders as the chain recorded them (indexed), newest first: of ``owner`` (default: the
    reader's own; every wallet's for the operator and admins)."""
    if owner is not None:
        require_wallet(reader, owner)
    elif not reader.privileged:
        owner = reader.wallet
    async with pool.acquire() as conn:
        rows = await repo.list_orders(conn, owner=owner, market=market, status=status, limit=limit)
    return [Order(**dict(r)) for r in rows]


@router.get("/api/orderbook", response_model=OrderBook)
async def order_book(desk: Desk, pool: Pool, market: str = Query(..., max_length=44)) -> OrderBook:
    """Depth by price level of the market's open orders."""
    if desk.market(market) is None:
        raise NotFound("unknown_market", f"this service does not serve market {market}")
    async with pool.acquire() as conn:
        rows = await repo.order_book(conn, market)
    levels = {side: [PriceLevel(price_per_kwh_micro=r["price_per_kwh_micro"], energy_wh=r["energy_wh"],
                                orders=r["orders"]) for r in rows if r["side"] == side] for side in ("buy", "sell")}
    return OrderBook(market=market, bids=levels["buy"][::-1], asks=levels["sell"])


@router.get("/api/trades", response_model=list[Trade])
async def list_trades(reader: MaybeReader, pool: Pool, market: str | None = Query(None, max_length=44),
                      owner: str | None = Query(None, max_length=44, description="buyer or seller wallet"),
                      limit: int = Query(100, ge=1, le=1000)) -> list[Trade]:
    """Settled fills as the chain reported them, newest first. The market's tape is public, its
    wallets shown only to the two parties, the operator and admins; ``owner`` (a wallet's
    history) needs that wallet's token."""
    if owner is not None:
        if reader is None:
            raise AuthError("token_required", "a wallet's trade history is private: send its token")
        require_wallet(reader, owner)
    async with pool.acquire() as conn:
        rows = await repo.list_trades(conn, market=market, owner=owner, limit=limit)
    trades = [Trade(**dict(r)) for r in rows]
    if reader is None or not reader.privileged:
        me = reader.wallet if reader is not None else None
        for t in trades:
            if me not in (t.buyer_wallet, t.seller_wallet):
                t.buyer_wallet = t.seller_wallet = None
    return trades


@router.get("/api/matcher/batches", response_model=list[MatchBatch])
async def list_match_batches(pool: Pool, market: str | None = Query(None, max_length=44),
                             limit: int = Query(100, ge=1, le=1000)) -> list[MatchBatch]:
    """settle_fills transactions the matcher sent and the chain's answer, newest first."""
    async with pool.acquire() as conn:
        rows = await repo.list_batches(conn, market, limit)
    return [MatchBatch(**dict(r)) for r in rows]
