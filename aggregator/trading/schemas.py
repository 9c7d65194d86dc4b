"""HTTP shapes for markets, the transaction relay, orders, the order book and trades.

Units: energy in Wh (GRID base units, 1 GRID = 1 kWh); prices in payment-token base
units per kWh (``_micro``: micro-units of a 6-decimal payment token); values and fees in
payment-token base units.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Market(BaseModel):
    address: str
    authority: str
    matcher: str
    matched_here: bool = Field(description="this service holds the matcher key and runs the matcher")
    grid_mint: str
    payment_mint: str
    grid_vault: str
    payment_vault: str
    fee_account: str
    fee_bps: int
    lot_size_wh: int
    tick_size_per_kwh_micro: int
    auction_slot_secs: int = Field(description="0: continuous market")
    next_order_id: int
    volume_wh: int
    fees_collected_micro: int
    recent_blockhash: str = Field(description="a blockhash to sign the next transaction with")
    units: dict[str, str]


class RelayRequest(BaseModel):
    transaction: str = Field(description="base64 of a signed legacy transaction (wire format)", max_length=4096)


class RelayResult(BaseModel):
    signature: str
    instructions: list[str]
    compute_units: int


class Order(BaseModel):
    order_address: str
    market_address: str
    order_id: int
    owner_wallet: str
    side: Literal["buy", "sell"]
    price_per_kwh_micro: int
    energy_wh: int
    filled_wh: int
    remaining_wh: int
    status: str
    expires_at: datetime | None
    tx_signature: str | None
    placed_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class PriceLevel(BaseModel):
    price_per_kwh_micro: int
    energy_wh: int
    orders: int


class OrderBook(BaseModel):
    market: str
    bids: list[PriceLevel] = Field(description="best (highest) price first")
    asks: list[PriceLevel] = Field(description="best (lowest) price first")


class Trade(BaseModel):
    id: int
    market_address: str
    bid_order_id: int
    ask_order_id: int
    buyer_wallet: str | None = Field(description="null unless the reader is a party, the operator or an admin")
    seller_wallet: str | None = Field(description="null unless the reader is a party, the operator or an admin")
    energy_wh: int
    price_per_kwh_micro: int
    value_micro: int
    fee_micro: int
    buyer_improvement_micro: int
    tx_signature: str
    fill_index: int
    slot: int
    executed_at: datetime


class MatchBatch(BaseModel):
    id: int
    market_address: str
    fills: int
    energy_wh: int
    ok: bool
    tx_signature: str | None
    error: str | None
    created_at: datetime
