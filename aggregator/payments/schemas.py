"""Request and response bodies of the THB rail (amounts in satang)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ReferenceRequest(BaseModel):
    wallet: str = Field(max_length=64)


class ReferenceResponse(BaseModel):
    wallet: str
    reference: str = Field(description="ISO 11649 creditor reference: put it in the transfer's remittance text")


class ImportSummary(BaseModel):
    statements: int
    entries: int
    new_entries: int
    matched: int
    held: int
    payouts_confirmed: int
    duplicate: bool = Field(description="every statement in the file had been imported before")


class WithdrawalRequest(BaseModel):
    wallet: str = Field(max_length=64)
    amount_satang: int = Field(gt=0, le=10**15)
    creditor_name: str = Field(min_length=1, max_length=140)
    iban: str | None = Field(None, max_length=42)
    account_number: str | None = Field(None, max_length=34, description="Thai bank account number (digits)")
    bic: str | None = Field(None, max_length=11)


class Payout(BaseModel):
    id: int
    wallet: str
    amount_satang: int
    creditor_name: str
    iban: str | None
    account_number: str | None
    bank_bic: str | None
    status: str
    burn_signature: str | None
    file_id: int | None
    created_at: datetime
    updated_at: datetime


class WithdrawalCreated(BaseModel):
    payout: Payout
    transaction: str = Field(description="base64 burn transaction for the wallet to sign (its fee payer)")


class BurnRequest(BaseModel):
    transaction: str = Field(max_length=4096)


class PayoutFile(BaseModel):
    id: int
    message_id: str
    payouts: int
    total_satang: int
    xml: str
    created_at: datetime
