"""ISO 20022 bank files: camt.053 / camt.054 read, pain.001 written, both strictly.

Reading: the file must validate against the message's XSD (``schemas/``, unchanged from
the ISO 20022 repository), then pass the rail's own rules, each with a reason code:

| reason | refused when |
|---|---|
| `not_xml` | not well-formed XML (or it declares entities: never expanded) |
| `unknown_message` | the root namespace is neither camt.053.001.10 nor camt.054.001.10 |
| `schema_invalid` | the document does not validate against its XSD |
| `wrong_currency` | an amount or balance is not in THB |
| `bad_amount` | an amount has more than two fraction digits (a satang is the least unit) |
| `entry_without_reference` | a booked entry has no AcctSvcrRef (its identity) |
| `reversal_unsupported` | an entry is a reversal (RvslInd): the operator books those by hand |
| `missing_balance` | a camt.053 statement without its opening (OPBD) and closing (CLBD) balance |
| `balances_do_not_add_up` | opening + credits - debits differs from the closing balance |

Only booked entries (status BOOK) are returned; pending and informational ones are not
money yet. Writing: :func:`pain001` builds a CustomerCreditTransferInitiationV09 and
validates it against its XSD before it is returned.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import xmlschema

from aggregator.errors import ValidationFailed

SCHEMAS = Path(__file__).parent / "schemas"
CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.10"
CAMT054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.10"
PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
_XSD = {CAMT053: "camt.053.001.10.xsd", CAMT054: "camt.054.001.10.xsd", PAIN001: "pain.001.001.09.xsd"}
MESSAGE_TYPE = {CAMT053: "camt.053", CAMT054: "camt.054"}
CURRENCY = "THB"
MAX_FILE_BYTES = 8 * 1024 * 1024


@functools.cache
def schema(namespace: str) -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(SCHEMAS / _XSD[namespace]))


@dataclass(frozen=True)
class Entry:
    entry_ref: str  # AcctSvcrRef: the bank's identity of the entry on this account
    direction: str  # CRDT or DBIT
    satang: int
    booking_date: date
    references: tuple[str, ...]  # remittance texts, creditor references and end-to-end ids


@dataclass(frozen=True)
class Statement:
    message_type: str
    message_id: str
    statement_id: str
    account: str
    entries: list[Entry] = field(default_factory=list)
    opening: int | None = None
    closing: int | None = None
    closing_date: date | None = None


def satang(text: str | None, currency: str | None) -> int:
    if currency != CURRENCY:
        raise ValidationFailed("wrong_currency", f"amount in {currency!r}; the rail books {CURRENCY} only")
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation as exc:
        raise ValidationFailed("bad_amount", f"not a decimal amount: {text!r}") from exc
    cents = value * 100
    if cents != cents.to_integral_value() or value < 0:
        raise ValidationFailed("bad_amount", f"{text} THB is not a whole number of satang")
    return int(cents)


def baht(amount_satang: int) -> str:
    return f"{amount_satang // 100}.{amount_satang % 100:02d}"


def _root(data: bytes) -> ET.Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValidationFailed("not_xml", "document type declarations are refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValidationFailed("not_xml", f"not well-formed XML: {exc}") from exc


def _validate(root: ET.Element, namespace: str) -> None:
    errors = list(schema(namespace).iter_errors(root))
    if errors:
        first = errors[0]
        raise ValidationFailed("schema_invalid", f"{len(errors)} schema error(s); first: {first.reason} "
                               f"at {first.path}")


def parse_statement(data: bytes) -> list[Statement]:
    """Every statement (camt.053 ``Stmt``) or notification (camt.054 ``Ntfctn``) in the file."""
    root = _root(data)
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if namespace not in MESSAGE_TYPE or root.tag != f"{{{namespace}}}Document":
        raise ValidationFailed("unknown_message", f"root {root.tag!r}: expected a camt.053.001.10 or "
                               "camt.054.001.10 Document")
    _validate(root, namespace)
    ns = {"c": namespace}
    kind = MESSAGE_TYPE[namespace]
    body = root[0]
    message_id = body.findtext("c:GrpHdr/c:MsgId", namespaces=ns) or ""
    reports = body.findall("c:Stmt" if kind == "camt.053" else "c:Ntfctn", ns)
    return [_statement(kind, message_id, report, ns) for report in reports]


def _account(report: ET.Element, ns: dict[str, str]) -> str:
    iban = report.findtext("c:Acct/c:Id/c:IBAN", namespaces=ns)
    return iban if iban is not None else (report.findtext("c:Acct/c:Id/c:Othr/c:Id", namespaces=ns) or "")


def _statement(kind: str, message_id: str, report: ET.Element, ns: dict[str, str]) -> Statement:
    entries = [e for e in (_entry(n, ns) for n in report.findall("c:Ntry", ns)) if e is not None]
    opening = closing = None
    closing_date = None
    for bal in report.findall("c:Bal", ns):
        code = bal.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns)
        amt = bal.find("c:Amt", ns)
        assert amt is not None  # the schema requires it
        value = satang(amt.text, amt.get("Ccy"))
        if bal.findtext("c:CdtDbtInd", namespaces=ns) == "DBIT":
            value = -value
        if code == "OPBD":
            opening = value
        elif code == "CLBD":
            closing = value
            day = bal.findtext("c:Dt/c:Dt", namespaces=ns) or bal.findtext("c:Dt/c:DtTm", namespaces=ns)
            closing_date = date.fromisoformat(day[:10]) if day else None
    statement = Statement(kind, message_id, report.findtext("c:Id", namespaces=ns) or "", _account(report, ns),
                          entries, opening, closing, closing_date)
    if kind == "camt.053":
        if opening is None or closing is None:
            raise ValidationFailed("missing_balance", f"statement {statement.statement_id} lacks OPBD or CLBD")
        moved = sum(e.satang if e.direction == "CRDT" else -e.satang for e in entries)
        if opening + moved != closing:
            raise ValidationFailed("balances_do_not_add_up",
                                   f"statement {statement.statement_id}: opening {baht(opening)} + entries "
                                   f"{baht(moved) if moved >= 0 else '-' + baht(-moved)} != closing {baht(closing)}")
    return statement


_RF = re.compile(r"RF\d{2}[A-Z0-9]{1,21}")
_RF_PRINTED = re.compile(r"\bRF\d{2}(?: [A-Z0-9]{4}){1,5}(?: [A-Z0-9]{1,4})?\b")  # paper form, groups of four


def _entry(ntry: ET.Element, ns: dict[str, str]) -> Entry | None:
    if ntry.findtext("c:Sts/c:Cd", namespaces=ns) != "BOOK":
        return None
    amt = ntry.find("c:Amt", ns)
    assert amt is not None
    value = satang(amt.text, amt.get("Ccy"))
    if (ntry.findtext("c:RvslInd", namespaces=ns) or "").strip() in ("true", "1"):
        raise ValidationFailed("reversal_unsupported", "reversal entries are booked by the operator")
    ref = (ntry.findtext("c:AcctSvcrRef", namespaces=ns) or "").strip()
    if not ref:
        raise ValidationFailed("entry_without_reference", "a booked entry has no AcctSvcrRef")
    day = ntry.findtext("c:BookgDt/c:Dt", namespaces=ns) or (ntry.findtext("c:BookgDt/c:DtTm", namespaces=ns) or "")
    texts: list[str] = []
    for path in ("c:NtryDtls/c:TxDtls/c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", "c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd",
                 "c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", "c:AddtlNtryInf"):
        texts += [(t.text or "").strip() for t in ntry.findall(path, ns)]
    return Entry(ref, ntry.findtext("c:CdtDbtInd", namespaces=ns) or "", value,
                 date.fromisoformat(day[:10]) if day else datetime.now(UTC).date(), tuple(t for t in texts if t))


def find_reference(texts: tuple[str, ...]) -> str | None:
    """The first ISO 11649 creditor reference in the entry's remittance texts: a word of its
    own, or printed in groups of four. A candidate whose check digits fail is returned only
    when no valid one is found (the deposit is then held for it)."""
    from aggregator.payments.reference import is_valid

    candidates: list[str] = []
    for text in texts:
        upper = text.upper()
        candidates += [w for w in re.split(r"[^A-Z0-9]+", upper) if _RF.fullmatch(w)]
        candidates += [m.group(0).replace(" ", "") for m in _RF_PRINTED.finditer(upper)]
    valid = [c for c in candidates if is_valid(c)]
    return valid[0] if valid else (candidates[0] if candidates else None)


# --- pain.001 -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transfer:
    end_to_end_id: str
    satang: int
    creditor_name: str
    iban: str | None
    account_number: str | None
    bic: str | None
    remittance: str


@dataclass(frozen=True)
class Debtor:
    name: str
    account: str  # the reserve account: an IBAN, or the bank's own account number
    bic: str | None


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{PAIN001}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _account_id(parent: ET.Element, account: str, *, iban: bool) -> None:
    ident = _sub(parent, "Id")
    if iban:
        _sub(ident, "IBAN", account)
    else:
        _sub(_sub(ident, "Othr"), "Id", account)


def _agent(parent: ET.Element, bic: str | None) -> None:
    fin = _sub(parent, "FinInstnId")
    if bic:
        _sub(fin, "BICFI", bic)
    else:
        _sub(_sub(fin, "Othr"), "Id", "NOTPROVIDED")


def is_iban(text: str) -> bool:
    s = text.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def pain001(message_id: str, debtor: Debtor, transfers: list[Transfer], *,
            execution: date, created: datetime | None = None) -> bytes:
    """A pain.001.001.09 credit transfer file, validated against its schema."""
    ET.register_namespace("", PAIN001)
    total = sum(t.satang for t in transfers)
    doc = ET.Element(f"{{{PAIN001}}}Document")
    init = _sub(doc, "CstmrCdtTrfInitn")
    hdr = _sub(init, "GrpHdr")
    _sub(hdr, "MsgId", message_id)
    _sub(hdr, "CreDtTm", (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"))
    _sub(hdr, "NbOfTxs", str(len(transfers)))
    _sub(hdr, "CtrlSum", baht(total))
    _sub(_sub(hdr, "InitgPty"), "Nm", debtor.name)
    pmt = _sub(init, "PmtInf")
    _sub(pmt, "PmtInfId", message_id)
    _sub(pmt, "PmtMtd", "TRF")
    _sub(pmt, "NbOfTxs", str(len(transfers)))
    _sub(pmt, "CtrlSum", baht(total))
    _sub(_sub(pmt, "ReqdExctnDt"), "Dt", execution.isoformat())
    _sub(_sub(pmt, "Dbtr"), "Nm", debtor.name)
    _account_id(_sub(pmt, "DbtrAcct"), debtor.account, iban=is_iban(debtor.account))
    _agent(_sub(pmt, "DbtrAgt"), debtor.bic)
    for t in transfers:
        tx = _sub(pmt, "CdtTrfTxInf")
        _sub(_sub(tx, "PmtId"), "EndToEndId", t.end_to_end_id)
        _sub(_sub(tx, "Amt"), "InstdAmt", baht(t.satang), Ccy=CURRENCY)
        if t.bic:
            _agent(_sub(tx, "CdtrAgt"), t.bic)
        _sub(_sub(tx, "Cdtr"), "Nm", t.creditor_name)
        _account_id(_sub(tx, "CdtrAcct"), t.iban or t.account_number or "", iban=t.iban is not None)
        _sub(_sub(tx, "RmtInf"), "Ustrd", t.remittance)
    _validate(doc, PAIN001)
    return ET.tostring(doc, encoding="utf-8", xml_declaration=True)
