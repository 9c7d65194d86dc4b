"""REST: a wallet's balances (from the chain now), history and earnings statement.

* ``GET /api/wallets/{wallet}/balances``: GRID and each payment token, free in the
  wallet's token accounts, escrowed by its open orders, and held in markets' balance
  accounts, all read from chain accounts; minted and pending production from the
  service's records.
* ``GET /api/wallets/{wallet}/history``: mints, fills, fees, refunds (escrow given back
  by a cancel, an expiry, a close or a price-improvement refund) and certificates,
  newest first.
* ``GET /api/wallets/{wallet}/statement?period=day|month&format=json|csv``: earnings per
  UTC day or month.

All three are private: only the wallet itself (its read token), the grid operator and
admins read them (401 ``token_required``, 403 ``not_yours``; docs/access-matrix.md).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from aggregator.chain import token_amount
from aggregator.chain.trading import ASK
from aggregator.deps import AppServices, Pool
from aggregator.errors import ValidationFailed
from aggregator.portfolio import repository as repo
from aggregator.portfolio.schemas import (
    Balances,
    GridHoldings,
    HistoryEntry,
    HistoryKind,
    PaymentHoldings,
    Production,
    Statement,
    StatementRow,
)
from aggregator.users.tokens import Reader, require_wallet

router = APIRouter(tags=["portfolio"])

WalletPath = Annotated[str, Path(max_length=44, description="wallet address (base58)")]


def wallet_key(wallet: str) -> Pubkey:
    try:
        return Pubkey.from_string(wallet)
    except ValueError as exc:
        raise ValidationFailed("invalid_address", f"wallet {wallet!r} is not a base58 address", field="wallet") from exc


@router.get("/api/wallets/{wallet}/balances", response_model=Balances)
async def balances(wallet: WalletPath, reader: Reader, services: AppServices, pool: Pool) -> Balances:
    """What the wallet holds now, as chain accounts say, and its production."""
    require_wallet(reader, wallet)
    owner = wallet_key(wallet)
    async with pool.acquire() as conn:
        prod = await repo.production(conn, wallet)
        order_addresses = await repo.open_orders(conn, wallet)
    grid = GridHoldings(free_wh=0, in_orders_wh=0, in_market_balances_wh=0, total_wh=0)
    payments: dict[Pubkey, PaymentHoldings] = {}
    open_orders = 0
    desk, chain = services.trading_desk, services.chain_handle
    if desk is not None and chain is not None:
        backend, trading = chain.backend, desk.trading
        mints = list(dict.fromkeys(m.payment_mint for m in desk.markets))
        for mint in mints:
            payments[mint] = PaymentHoldings(mint=str(mint), free_micro=0, in_orders_micro=0,
                                             in_market_balances_micro=0, total_micro=0)
        token_accounts = [trading.token.token_account(owner), *(get_associated_token_address(owner, m) for m in mints)]
        balance_accounts = [trading.balance_address(m.address, owner) for m in desk.markets]
        order_keys = [Pubkey.from_string(a) for a in order_addresses]
        accounts = await backend.accounts([*token_accounts, *balance_accounts, *order_keys])
        tokens = accounts[:len(token_accounts)]
        market_balances = accounts[len(token_accounts):len(token_accounts) + len(balance_accounts)]
        orders = accounts[len(token_accounts) + len(balance_accounts):]
        grid.free_wh = token_amount(bytes(tokens[0].data)) if tokens[0] is not None else 0
        for mint, acc in zip(mints, tokens[1:]):
            payments[mint].free_micro = token_amount(bytes(acc.data)) if acc is not None else 0
        for market, acc in zip(desk.markets, market_balances):
            if acc is None:
                continue
            b = trading.decode(bytes(acc.data))
            grid.in_market_balances_wh += b.grid_wh
            payments[market.payment_mint].in_market_balances_micro += b.payment
        refs = {m.address: m for m in desk.markets}
        for acc in orders:
            if acc is None or trading.program.account_name(bytes(acc.data)) != "Order":
                continue
            o = trading.decode(bytes(acc.data))
            if o.owner != owner or o.market not in refs:
                continue
            open_orders += o.remaining_wh > 0  # a filled order's account may wait for its close crank
            if o.side == ASK:
                grid.in_orders_wh += o.escrow_amount
            else:
                payments[refs[o.market].payment_mint].in_orders_micro += o.escrow_amount
    grid.total_wh = grid.free_wh + grid.in_orders_wh + grid.in_market_balances_wh
    for p in payments.values():
        p.total_micro = p.free_micro + p.in_orders_micro + p.in_market_balances_micro
    return Balances(wallet=wallet, grid=grid, payment=list(payments.values()), production=Production(**dict(prod)),
                    open_orders=open_orders)


def _describe(r: dict) -> str:
    kind = r["kind"]
    if kind == "mint":
        return f"minted {r['energy_wh']} Wh from meter {r['ref']}"
    if kind == "fill":
        verb = "bought" if r["side"] == "buy" else "sold"
        return f"{verb} {abs(r['energy_wh'])} Wh at {r['price']} per kWh"
    if kind == "fee":
        return f"market fee {-r['payment_micro']}"
    if kind == "refund":
        what = f"{r['energy_wh']} Wh of GRID" if r["energy_wh"] else f"{r['payment_micro']} payment units"
        cause = {"OrderCancelled": "cancelled", "OrderExpired": "expired", "OrderClosed": "closed",
                 "ImprovementRefunded": "price improvement"}.get(r["ref"], r["ref"])
        return f"{what} back from order #{r['price']} ({cause})"
    return f"certificate {r['ref']} {r['side']} ({r['price']} Wh)"


@router.get("/api/wallets/{wallet}/history", response_model=list[HistoryEntry])
async def history(wallet: WalletPath, reader: Reader, pool: Pool, kind: HistoryKind | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = Query(100, ge=1, le=1000)) -> list[HistoryEntry]:
    """Mints, fills, fees, refunds and certificates of the wallet, newest first."""
    require_wallet(reader, wallet)
    wallet_key(wallet)
    async with pool.acquire() as conn:
        rows = await repo.history(conn, wallet, kind=kind, since=since, until=until, limit=limit)
    out = []
    for row in rows:
        r = dict(row)
        detail = {k: v for k, v in {"counterparty" if r["kind"] == "fill" else "ref": r["ref"], "side": r["side"],
                                    "price_per_kwh_micro" if r["kind"] in ("fill", "fee") else "value": r["price"]
                                    }.items() if v is not None}
        out.append(HistoryEntry(kind=r["kind"], at=r["at"], signature=r["signature"], market=r["market"],
                                energy_wh=r["energy_wh"], payment_micro=r["payment_micro"], description=_describe(r),
                                detail=detail))
    return out


STATEMENT_FIELDS = list(StatementRow.model_fields)


@router.get("/api/wallets/{wallet}/statement", response_model=Statement,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON, or CSV with format=csv (a header row, one row per period, "
                                            "then a totals row)"}})
async def statement(wallet: WalletPath, reader: Reader, pool: Pool, period: Literal["day", "month"] = "day",
                    format: Literal["json", "csv"] = "json", since: datetime | None = None,
                    until: datetime | None = None) -> Statement | Response:
    """Earnings per UTC day or month: energy minted, sold and bought, revenue, fees, spend."""
    require_wallet(reader, wallet)
    wallet_key(wallet)
    async with pool.acquire() as conn:
        rows = [dict(r) for r in await repo.statement(conn, wallet, period, since, until)]
    items = [StatementRow(**r, net_micro=r["revenue_micro"] - r["fees_micro"] - r["spent_micro"]) for r in rows]
    totals = StatementRow(period="total", **{f: sum(getattr(i, f) for i in items) for f in STATEMENT_FIELDS
                                             if f != "period"})
    result = Statement(wallet=wallet, period=period, rows=items, totals=totals)
    if format == "json":
        return result
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=STATEMENT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for item in [*items, totals]:
        writer.writerow(item.model_dump())
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="statement-{wallet}-{period}.csv"'})
