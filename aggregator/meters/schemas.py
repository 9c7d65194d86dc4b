"""HTTP shapes for meters and their readings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from common.wire import METER_ID_PATTERN


class RegisterMeter(BaseModel):
    meter_id: str = Field(pattern=METER_ID_PATTERN)
    owner_wallet: str = Field(min_length=32, max_length=44)
    device_public_key: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="32-byte Ed25519 device key, lowercase hex"
    )
    nonce: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=100, description="owner wallet signature, base58")
    location: str | None = Field(None, max_length=32, description="where it is (at most 32 UTF-8 bytes; also on chain)")
    meter_type: Literal["solar", "wind", "battery", "grid", "other"] | None = None

    @field_validator("location")
    @classmethod
    def _location_fits_on_chain(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 32:
            raise ValueError("location is longer than 32 UTF-8 bytes")
        return value


class SetMeterStatus(BaseModel):
    status: Literal["active", "suspended", "revoked"]
    owner_wallet: str = Field(min_length=32, max_length=44)
    nonce: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=100)


class Meter(BaseModel):
    meter_id: str
    owner_wallet: str
    device_public_key: str
    status: str
    registered_at: datetime
    last_seq: int | None
    last_reading_at: datetime | None
    accepted_count: int
    chain_state: str = Field("active", description="pending until the on-chain registration is indexed")
    location: str | None = None
    meter_type: str | None = None
    registration_tx: str | None = Field(
        None, description="POST /api/meters: the unsigned register_meter transaction (base64) for the owner to "
        "sign and post to /api/transactions")


class Reconciliation(BaseModel):
    """A meter's audit under the mint rule (docs/mint-rule.md): GRID due = signed export
    from its first to its last accepted reading; ``difference_wh`` is 0 once settled."""

    meter_id: str
    first_seq: int | None = Field(description="the accepted reading GRID is measured from")
    last_seq: int | None
    accepted_readings: int
    signed_export_wh: int = Field(description="export counter, last minus first accepted reading")
    signed_import_wh: int = Field(description="import counter, last minus first (never netted)")
    due_wh: int = Field(description="GRID due under the mint rule, in Wh (= signed_export_wh)")
    minted_wh: int = Field(description="confirmed by mint transactions")
    pending_wh: int = Field(description="accepted, not yet minted (in a batch waiting or in flight)")
    chain_minted_wh: int | None = Field(description="minted according to the indexed chain events")
    stuck_batches: int = Field(description="mint batches failed or in conflict: an operator must look")
    difference_wh: int = Field(description="due - minted: equals pending_wh while minting, 0 once settled")
    consistent: bool = Field(description="due == minted + pending (the stored contributions add up)")


class Reading(BaseModel):
    id: int
    meter_id: str
    seq: int
    reading_ts: datetime
    interval_s: int
    imp_wh: int
    exp_wh: int
    production_wh: int
    consumption_wh: int
    power_w: int
    transport: str
    received_at: datetime
    minted: bool
    mint_tx_signature: str | None


class MintBatch(BaseModel):
    id: int
    meter_id: str
    state: str
    reading_count: int
    production_wh: int
    consumption_wh: int
    minted_wh: int | None
    tx_signature: str | None
    attempts: int
    last_error: str | None = Field(description="why the last attempt failed, or how an unknown outcome was settled")
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime


class Rejection(BaseModel):
    received_at: datetime
    transport: str
    seq: int | None
    reason: str
    detail: str | None


class Gap(BaseModel):
    from_seq: int
    to_seq: int
    reported_ts: datetime | None
    received_at: datetime
