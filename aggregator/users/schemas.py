"""HTTP shapes for users and challenges."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ChallengeRequest(BaseModel):
    wallet: str = Field(min_length=32, max_length=44)
    purpose: Literal["register_user", "register_meter", "set_meter_status", "request_certificate", "read_token"]


class ChallengeResponse(BaseModel):
    nonce: str
    expires_at: datetime
    message_format: str = Field(
        description="the wallet signs 'GridTokenX <purpose>\\nwallet: <wallet>\\nnonce: <nonce>' "
        "followed by one '<field>: <value>' line per request field, sorted by name"
    )


class RegisterUser(BaseModel):
    wallet: str = Field(min_length=32, max_length=44)
    role: Literal["prosumer", "consumer"]
    display_name: str | None = Field(None, max_length=100)
    nonce: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=100, description="base58 Ed25519 signature "
                           "(signed fields: role, and display_name when given)")

    def signed_fields(self) -> dict[str, str]:
        fields: dict[str, str] = {"role": self.role}
        if self.display_name is not None:
            # Signed when present: a relay can neither add nor change nor drop a name.
            fields["display_name"] = self.display_name
        return fields


class User(BaseModel):
    id: int
    wallet: str
    role: str
    display_name: str | None
    created_at: datetime
    chain_state: str = Field("active", description="pending until the on-chain registration is indexed")
    registration_tx: str | None = Field(
        None, description="POST /api/users: the unsigned register_user transaction (base64) for the wallet to "
        "sign and post to /api/transactions")


class Balance(BaseModel):
    wallet: str
    minted_wh: int = Field(description="energy minted as GRID (confirmed mint batches)")
    pending_production_wh: int = Field(description="accepted production not yet minted")
    pending_consumption_wh: int = Field(description="accepted consumption not yet settled")
    meters: int
