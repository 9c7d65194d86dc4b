"""Bank files as a bank writes them: camt.053 statements and camt.054 notifications of
the reserve account, for development chains, the demo and tests (a bank's sandbox does
the same). What they produce validates against the schemas the rail reads them with."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime

from aggregator.payments.iso20022 import CAMT053, CAMT054, CURRENCY, baht


@dataclass(frozen=True)
class BankEntry:
    entry_ref: str  # AcctSvcrRef
    satang: int
    direction: str = "CRDT"  # or DBIT
    remittance: str = ""  # the payer's remittance text (carries the payment reference)
    end_to_end_id: str = "NOTPROVIDED"
    booking_date: date | None = None


def _writer(ns: str):  # type: ignore[no-untyped-def]
    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el
    return sub


def _entries(sub, parent: ET.Element, entries: list[BankEntry], day: date) -> None:  # type: ignore[no-untyped-def]
    for e in entries:
        n = sub(parent, "Ntry")
        sub(n, "Amt", baht(e.satang), Ccy=CURRENCY)
        sub(n, "CdtDbtInd", e.direction)
        sub(sub(n, "Sts"), "Cd", "BOOK")
        sub(sub(n, "BookgDt"), "Dt", (e.booking_date or day).isoformat())
        sub(n, "AcctSvcrRef", e.entry_ref)
        sub(sub(sub(n, "BkTxCd"), "Prtry"), "Cd", "TRF")
        tx = sub(sub(n, "NtryDtls"), "TxDtls")
        sub(sub(tx, "Refs"), "EndToEndId", e.end_to_end_id)
        if e.remittance:
            sub(sub(tx, "RmtInf"), "Ustrd", e.remittance)


def _account(sub, parent: ET.Element, account: str) -> None:  # type: ignore[no-untyped-def]
    acct = sub(parent, "Acct")
    ident = sub(acct, "Id")
    if account[:2].isalpha():
        sub(ident, "IBAN", account)
    else:
        sub(sub(ident, "Othr"), "Id", account)
    sub(acct, "Ccy", CURRENCY)


def _balance(sub, parent: ET.Element, code: str, amount: int, day: date) -> None:  # type: ignore[no-untyped-def]
    bal = sub(parent, "Bal")
    sub(sub(sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
    sub(bal, "Amt", baht(abs(amount)), Ccy=CURRENCY)
    sub(bal, "CdtDbtInd", "CRDT" if amount >= 0 else "DBIT")
    sub(sub(bal, "Dt"), "Dt", day.isoformat())


def camt053(account: str, statement_id: str, opening: int, entries: list[BankEntry], *,
            day: date | None = None, message_id: str | None = None) -> bytes:
    """One statement of `account`: opening balance, entries, the closing balance they make."""
    day = day or datetime.now(UTC).date()
    ET.register_namespace("", CAMT053)
    sub = _writer(CAMT053)
    doc = ET.Element(f"{{{CAMT053}}}Document")
    body = sub(doc, "BkToCstmrStmt")
    hdr = sub(body, "GrpHdr")
    sub(hdr, "MsgId", message_id or f"MSG-{statement_id}")
    sub(hdr, "CreDtTm", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    stmt = sub(body, "Stmt")
    sub(stmt, "Id", statement_id)
    sub(stmt, "CreDtTm", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    _account(sub, stmt, account)
    closing = opening + sum(e.satang if e.direction == "CRDT" else -e.satang for e in entries)
    _balance(sub, stmt, "OPBD", opening, day)
    _balance(sub, stmt, "CLBD", closing, day)
    _entries(sub, stmt, entries, day)
    return ET.tostring(doc, encoding="utf-8", xml_declaration=True)


def camt054(account: str, notification_id: str, entries: list[BankEntry], *, day: date | None = None) -> bytes:
    """A debit/credit notification of `account` (no balances)."""
    day = day or datetime.now(UTC).date()
    ET.register_namespace("", CAMT054)
    sub = _writer(CAMT054)
    doc = ET.Element(f"{{{CAMT054}}}Document")
    body = sub(doc, "BkToCstmrDbtCdtNtfctn")
    hdr = sub(body, "GrpHdr")
    sub(hdr, "MsgId", f"MSG-{notification_id}")
    sub(hdr, "CreDtTm", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    ntf = sub(body, "Ntfctn")
    sub(ntf, "Id", notification_id)
    sub(ntf, "CreDtTm", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    _account(sub, ntf, account)
    _entries(sub, ntf, entries, day)
    return ET.tostring(doc, encoding="utf-8", xml_declaration=True)
