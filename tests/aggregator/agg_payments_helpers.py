"""The bank and the wallet side of the THB rail, for tests: a reserve account that writes
its camt.053 statements, and a wallet that asks for its reference, withdraws and signs
its burn. Everything goes through the rail's HTTP API."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import xmlschema
from solders.keypair import Keypair
from solders.transaction import Transaction

from aggregator.payments.bankfiles import BankEntry, camt053

RESERVE_ACCOUNT = "TH1234567890123"  # the reserve account's number at its bank
OPERATOR_TOKEN = "operator-secret-for-tests"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
PAIN001_XSD = Path(__file__).resolve().parents[2] / "aggregator" / "payments" / "schemas" / "pain.001.001.09.xsd"


@dataclass
class Bank:
    """The reserve account as the bank books it: each statement opens at the last close."""

    account: str = RESERVE_ACCOUNT
    balance: int = 0
    statements: int = 0
    entries: int = 0
    files: list[bytes] = field(default_factory=list)

    def entry(self, satang: int, *, remittance: str = "", direction: str = "CRDT",
              end_to_end_id: str = "NOTPROVIDED") -> BankEntry:
        self.entries += 1
        return BankEntry(f"ACR-{self.entries:06d}", satang, direction, remittance, end_to_end_id)

    def statement(self, entries: list[BankEntry]) -> bytes:
        self.statements += 1
        xml = camt053(self.account, f"STMT-{self.statements:05d}", self.balance, entries)
        self.balance += sum(e.satang if e.direction == "CRDT" else -e.satang for e in entries)
        self.files.append(xml)
        return xml


async def import_statement(http: httpx.AsyncClient, xml: bytes) -> httpx.Response:
    return await http.post("/api/payments/statements", content=xml,
                           headers={**OPERATOR, "Content-Type": "application/xml"})


async def reference(http: httpx.AsyncClient, wallet: Keypair) -> str:
    resp = await http.post("/api/payments/references", json={"wallet": str(wallet.pubkey())})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["reference"])


async def reserve(http: httpx.AsyncClient) -> dict[str, Any]:
    resp = await http.get("/api/payments/reserve")
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def sign_burn(wallet: Keypair, transaction_b64: str) -> str:
    tx = Transaction.from_bytes(base64.b64decode(transaction_b64))
    tx.partial_sign([wallet], tx.message.recent_blockhash)  # the rail's authority signs as fee payer
    return base64.b64encode(bytes(tx)).decode()


async def withdraw(http: httpx.AsyncClient, wallet: Keypair, satang: int, *,
                   account_number: str = "1234567890") -> dict[str, Any]:
    """Request a payout and sign and send its burn; the burned payout."""
    resp = await http.post("/api/payments/withdrawals", json={
        "wallet": str(wallet.pubkey()), "amount_satang": satang, "creditor_name": "Somchai P.",
        "account_number": account_number, "bic": "KASITHBK"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    resp = await http.post(f"/api/payments/withdrawals/{created['payout']['id']}/burn",
                           json={"transaction": sign_burn(wallet, created["transaction"])})
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def assert_pain001_valid(xml: str | bytes) -> None:
    xmlschema.XMLSchema10(str(PAIN001_XSD)).validate(xml if isinstance(xml, str) else xml.decode())
