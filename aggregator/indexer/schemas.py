"""HTTP shapes for indexed chain events and a meter's chain-confirmed totals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ChainEvent(BaseModel):
    id: int
    signature: str
    idx: int
    slot: int
    program_id: str
    program: str
    name: str
    meter_id: str | None
    data: dict[str, Any]
    indexed_at: datetime


class ChainMeterTotals(BaseModel):
    """What the chain settled and minted for a meter, as of the last indexed event."""

    meter_id: str
    owner_wallet: str | None
    settled_production_wh: int
    settled_wh: int
    minted_wh: int
    settlements: int
    last_signature: str | None
    last_slot: int | None
    updated_at: datetime
