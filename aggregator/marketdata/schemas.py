"""HTTP shapes of market data (prices in payment-token base units per kWh, energy in Wh)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DepthLevel(BaseModel):
    price_per_kwh_micro: int
    energy_wh: int
    orders: int
    cumulative_wh: int = Field(description="energy at this level and every better one")


class Depth(BaseModel):
    market: str
    bids: list[DepthLevel] = Field(description="best (highest) first")
    asks: list[DepthLevel] = Field(description="best (lowest) first")
    best_bid: int | None
    best_ask: int | None
    spread: int | None


class MarketTrade(BaseModel):
    id: int
    bid_order_id: int
    ask_order_id: int
    buyer_wallet: str
    seller_wallet: str
    energy_wh: int
    price_per_kwh_micro: int
    value_micro: int
    fee_micro: int
    tx_signature: str
    fill_index: int
    executed_at: datetime


class Candle(BaseModel):
    start: datetime
    open: int
    high: int
    low: int
    close: int
    volume_wh: int
    value_micro: int
    trades: int


class Candles(BaseModel):
    market: str
    interval: Literal["15m", "1h", "1d"]
    candles: list[Candle] = Field(description="oldest first; intervals without trades are left out")


class Stats24h(BaseModel):
    market: str
    last: int | None = Field(description="the newest trade's price (any time)")
    open: int | None = Field(description="the first price of the last 24 h")
    high: int | None
    low: int | None
    change: int | None = Field(description="last - open")
    volume_wh: int
    value_micro: int
    trades: int
    vwap: int | None = Field(description="volume-weighted average price, rounded down")
    best_bid: int | None
    best_ask: int | None
