"""The ISO 20022 reader and writer on their own: references found as banks print them,
statement rules, pain.001 validity for both kinds of creditor account."""

from __future__ import annotations

from datetime import date

import pytest

from aggregator.errors import ValidationFailed
from aggregator.payments import iso20022, reference
from aggregator.payments.bankfiles import BankEntry, camt053
from tests.aggregator.agg_payments_helpers import RESERVE_ACCOUNT, assert_pain001_valid


def test_references_are_iso11649_and_found_as_written_or_printed() -> None:
    ref = reference.new_reference()
    assert reference.is_valid(ref) and len(ref) == 19
    assert reference.is_valid("RF18539007547034")  # the standard's own example
    assert not reference.is_valid("RF19539007547034")
    printed = " ".join(ref[i:i + 4] for i in range(0, len(ref), 4))
    assert iso20022.find_reference((f"Top-up {printed} thanks",)) == ref
    assert iso20022.find_reference((f"ref:{ref}/x",)) == ref
    assert iso20022.find_reference(("RF19539007547034",)) == "RF19539007547034"  # held later: bad check digits
    assert iso20022.find_reference(("no reference here",)) is None


def test_statement_rules() -> None:
    entries = [BankEntry("A1", 10_050, remittance="x"), BankEntry("A2", 50, "DBIT")]
    (st,) = iso20022.parse_statement(camt053(RESERVE_ACCOUNT, "S1", -1_000, entries, day=date(2026, 1, 2)))
    assert (st.opening, st.closing, st.closing_date) == (-1_000, 9_000, date(2026, 1, 2))
    assert [(e.entry_ref, e.direction, e.satang) for e in st.entries] == [("A1", "CRDT", 10_050), ("A2", "DBIT", 50)]
    xml = camt053(RESERVE_ACCOUNT, "S2", 0, [BankEntry("B1", 100)])
    pending = xml.replace(b"<Cd>BOOK</Cd>", b"<Cd>PDNG</Cd>")
    with pytest.raises(ValidationFailed) as exc:  # the closing balance counted the entry that is not booked
        iso20022.parse_statement(pending)
    assert exc.value.reason == "balances_do_not_add_up"
    reversal = xml.replace(b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd>"
                           b"<Sts>")
    with pytest.raises(ValidationFailed) as exc:
        iso20022.parse_statement(reversal)
    assert exc.value.reason == "reversal_unsupported"
    fraction = xml.replace(b">1.00<", b">1.001<")
    with pytest.raises(ValidationFailed) as exc:
        iso20022.parse_statement(fraction)
    assert exc.value.reason in ("schema_invalid", "bad_amount")


def test_pain001_validates_for_iban_and_thai_account_creditors() -> None:
    assert iso20022.is_iban("DE89 3704 0044 0532 0130 00") and not iso20022.is_iban("DE89370400440532013001")
    xml = iso20022.pain001("M-1", iso20022.Debtor("Reserve", RESERVE_ACCOUNT, "BKKBTHBK"), [
        iso20022.Transfer("GTXP-1", 12_345, "A", "DE89370400440532013000", None, None, "w 1"),
        iso20022.Transfer("GTXP-2", 1, "B", None, "1234567890", "KASITHBK", "w 2"),
    ], execution=date(2026, 1, 2))
    assert_pain001_valid(xml)
    assert b"<CtrlSum>123.46</CtrlSum>" in xml and b"<NbOfTxs>2</NbOfTxs>" in xml
