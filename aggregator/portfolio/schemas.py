"""HTTP shapes of a wallet's balances, history and statement.

Units: energy in Wh (GRID base units, 1 GRID = 1 kWh); payment amounts in payment-token
base units (``_micro``: micro-units of a 6-decimal token). Signed amounts in the history
are the wallet's own view: positive comes in, negative goes out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class GridHoldings(BaseModel):
    free_wh: int = Field(description="in the wallet's GRID token account")
    in_orders_wh: int = Field(description="escrowed by the wallet's open asks")
    in_market_balances_wh: int = Field(description="held for the wallet in markets' balance accounts")
    total_wh: int


class PaymentHoldings(BaseModel):
    mint: str
    free_micro: int = Field(description="in the wallet's token account of this mint")
    in_orders_micro: int = Field(description="escrowed by the wallet's open bids (improvement included)")
    in_market_balances_micro: int
    total_micro: int


class Production(BaseModel):
    meters: int
    minted_wh: int = Field(description="production minted as GRID (confirmed mint batches)")
    pending_production_wh: int = Field(description="accepted production not yet minted")
    pending_consumption_wh: int = Field(description="accepted consumption not yet settled")


class Balances(BaseModel):
    wallet: str
    grid: GridHoldings
    payment: list[PaymentHoldings] = Field(description="one entry per payment token of the markets served")
    production: Production
    open_orders: int = Field(description="orders with energy left to fill")


HistoryKind = Literal["mint", "fill", "fee", "refund", "certificate"]


class HistoryEntry(BaseModel):
    kind: HistoryKind
    at: datetime
    signature: str | None
    market: str | None = None
    energy_wh: int = Field(0, description="GRID in (+) or out (-) of the wallet")
    payment_micro: int = Field(0, description="payment in (+) or out (-); refunds give back escrow")
    description: str
    detail: dict[str, Any] = {}


class StatementRow(BaseModel):
    period: str = Field(description="YYYY-MM-DD or YYYY-MM (UTC)")
    minted_wh: int
    sold_wh: int
    bought_wh: int
    revenue_micro: int = Field(description="value of the energy sold, before fees")
    fees_micro: int = Field(description="market fees charged on sales")
    spent_micro: int = Field(description="value of the energy bought, at the trade prices")
    net_micro: int = Field(description="revenue - fees - spent")
    trades: int
    certificates_issued_wh: int
    certificates_retired_wh: int


class Statement(BaseModel):
    wallet: str
    period: Literal["day", "month"]
    rows: list[StatementRow] = Field(description="oldest first, one per period with any activity")
    totals: StatementRow
