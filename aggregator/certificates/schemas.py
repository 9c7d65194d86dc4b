"""HTTP shapes for certificate issuance and the indexed certificates.

Units: energy in Wh; times as unix seconds (the chain's clock for state changes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from aggregator.meters.schemas import METER_ID_PATTERN

SourceName = Literal["solar", "wind", "hydro", "biomass", "geothermal"]
StatusName = Literal["pending", "valid", "retired", "revoked", "expired"]


class IssueCertificate(BaseModel):
    """An owner's request (wallet-signed challenge, purpose ``request_certificate``; signed
    fields ``meter_id``, ``start_at``, ``end_at``, ``source``, an absent one as empty text)."""

    meter_id: str = Field(pattern=METER_ID_PATTERN)
    owner_wallet: str = Field(min_length=32, max_length=44)
    start_at: int | None = Field(None, ge=0, description="unix s; default: the end of the meter's last certificate, "
                                 "or its first reading")
    end_at: int | None = Field(None, gt=0, description="unix s; default: the meter's newest minted reading")
    source: SourceName = "solar"
    nonce: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=100, description="owner wallet signature, base58")

    def signed_fields(self) -> dict[str, str]:
        return {"meter_id": self.meter_id, "source": self.source,
                "start_at": "" if self.start_at is None else str(self.start_at),
                "end_at": "" if self.end_at is None else str(self.end_at)}


class Issuance(BaseModel):
    """A prepared issuance: the owner signs ``transaction`` and sends it to ``POST /api/transactions``."""

    meter_id: str
    certificate: str = Field(description="address the certificate will have (PDA of meter and sequence)")
    sequence: int
    start_at: int
    end_at: int
    energy_wh: int = Field(description="minted production of the meter's readings in [start_at, end_at)")
    source: SourceName
    location: str
    validated: bool = Field(description="the transaction also validates the certificate (issuer co-signed)")
    transaction: str = Field(description="base64 legacy transaction, fee payer the owner; the issuer's "
                             "signature is in place when validated, the owner's is missing")
    recent_blockhash: str


class Certificate(BaseModel):
    id: int
    address: str
    meter_id: str
    sequence: int
    owner_wallet: str = Field(description="current holder")
    issued_to_wallet: str
    energy_wh: int
    start_at: int
    end_at: int
    source: SourceName
    location: str
    status: StatusName
    expires_at: int
    validated_at: int | None
    closed_at: int | None
    revoke_reason: int | None
    meter_certified_wh: int = Field(description="the meter's certified Wh after this certificate")
    issue_signature: str
    last_signature: str
    updated_at: datetime


class CertificateDetail(Certificate):
    recent_blockhash: str | None = Field(description="a blockhash for the holder's next transfer or retire")
