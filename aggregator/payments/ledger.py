"""The rail's books in PostgreSQL: references, imported bank entries, payouts, the audit
trail. Everything here is database-only, so ``python -m aggregator payments import``
runs it without a chain; the running service's rail mints what an import matched.

Deposit states: ``matched`` (a wallet's reference, within the limits) -> ``minting`` (a
signed mint recorded, then sent) -> ``minted``; or ``held`` with a reason. Payout states:
``requested`` -> ``burned`` -> ``file_produced`` -> ``confirmed`` (a later debit entry
of the reserve account carries its end-to-end id).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from aggregator.config import ThbSettings
from aggregator.errors import Conflict, NotFound, ValidationFailed
from aggregator.payments import iso20022, reference
from aggregator.users.challenge import parse_wallet

PAYOUT_PREFIX = "GTXP-"


async def audit(conn: asyncpg.Connection, kind: str, *, wallet: str | None = None, amount: int | None = None,
                entry_id: int | None = None, payout_id: int | None = None, statement_id: int | None = None,
                **detail: Any) -> None:
    await conn.execute(
        """INSERT INTO payment_events (kind, wallet, amount_satang, entry_id, payout_id, statement_id, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)""",
        kind, wallet, amount, entry_id, payout_id, statement_id, json.dumps(detail, default=str))


async def reference_for(conn: asyncpg.Connection, wallet: str) -> str:
    """The wallet's payment reference (issued once, then the same one)."""
    parse_wallet(wallet)
    async with conn.transaction():
        if await conn.fetchval("SELECT 1 FROM users WHERE wallet = $1", wallet) is None:
            raise NotFound("unknown_user", "register the wallet (POST /api/users) before asking for a reference")
        found = await conn.fetchval("SELECT reference FROM payment_references WHERE wallet = $1", wallet)
        if found is not None:
            return str(found)
        ref = reference.new_reference()
        await conn.execute("INSERT INTO payment_references (reference, wallet) VALUES ($1, $2)", ref, wallet)
        await audit(conn, "reference_issued", wallet=wallet, reference=ref)
        return ref


@dataclass
class ImportResult:
    statements: int
    entries: int
    new_entries: int
    matched: int
    held: int
    payouts_confirmed: int
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def import_file(pool: asyncpg.Pool, data: bytes, settings: ThbSettings, *, source: str) -> ImportResult:
    """Parse, check and book a camt.053/054 file. Refusals are audited, then raised."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        if len(data) > iso20022.MAX_FILE_BYTES:
            raise ValidationFailed("statement_too_large", f"{len(data)} bytes; at most {iso20022.MAX_FILE_BYTES}")
        # Schema validation is pure Python (about 1 ms per entry): off the event loop.
        statements = await asyncio.to_thread(iso20022.parse_statement, data)
        for st in statements:
            if settings.reserve_account is not None and st.account != settings.reserve_account:
                raise ValidationFailed("wrong_account", f"statement of account {st.account!r}, not the reserve "
                                       "account")
        async with pool.acquire() as conn, conn.transaction():
            # One import at a time: entries, limits and balances are decided in file order.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gtx_payments_import'))")
            result = ImportResult(len(statements), 0, 0, 0, 0, 0, True)
            for st in statements:
                await _book(conn, st, digest, settings, source, result)
            return result
    except ValidationFailed as exc:
        async with pool.acquire() as conn:
            await audit(conn, "statement_rejected", reason=exc.reason, message=str(exc), sha256=digest, source=source)
        raise


async def _book(conn: asyncpg.Connection, st: iso20022.Statement, digest: str, settings: ThbSettings, source: str,
                result: ImportResult) -> None:
    statement_id = await conn.fetchval(
        """INSERT INTO bank_statements (message_type, message_id, account, statement_id, closing_balance,
                                        closing_date, entries, new_entries, sha256)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)
           ON CONFLICT (account, message_type, statement_id) DO NOTHING RETURNING id""",
        st.message_type, st.message_id, st.account, st.statement_id, st.closing, st.closing_date,
        len(st.entries), digest)
    result.entries += len(st.entries)
    if statement_id is None:
        existing = await conn.fetchrow(
            "SELECT id, sha256 FROM bank_statements WHERE account = $1 AND message_type = $2 AND statement_id = $3",
            st.account, st.message_type, st.statement_id)
        if existing["sha256"] != digest:
            raise ValidationFailed("statement_conflict", f"statement {st.statement_id} was imported before with "
                                   "different content")
        await audit(conn, "statement_duplicate", statement_id=existing["id"], sha256=digest, source=source)
        return
    result.duplicate = False
    await audit(conn, "statement_imported", statement_id=statement_id, message_type=st.message_type,
                message_id=st.message_id, account=st.account, closing_balance=st.closing, sha256=digest,
                source=source)
    new = 0
    for entry in st.entries:
        if entry.direction == "CRDT":
            booked = await _book_credit(conn, st.account, statement_id, entry, settings)
            if booked == "matched":
                result.matched += 1
            elif booked == "held":
                result.held += 1
        else:
            booked = await _book_debit(conn, st.account, statement_id, entry)
            if booked == "payout":
                result.payouts_confirmed += 1
        new += booked is not None
    result.new_entries += new
    await conn.execute("UPDATE bank_statements SET new_entries = $2 WHERE id = $1", statement_id, new)


async def _insert_entry(conn: asyncpg.Connection, account: str, statement_id: int, entry: iso20022.Entry,
                        status: str, reason: str | None, ref: str | None, wallet: str | None) -> int | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        """INSERT INTO bank_entries (account, entry_ref, statement_id, direction, amount_satang, booking_date,
                                     reference, status, reason, wallet, matched_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $8 = 'matched' THEN now() END)
           ON CONFLICT (account, entry_ref) DO NOTHING RETURNING id""",
        account, entry.entry_ref, statement_id, entry.direction, entry.satang, entry.booking_date, ref, status,
        reason, wallet)


async def _book_credit(conn: asyncpg.Connection, account: str, statement_id: int, entry: iso20022.Entry,
                       settings: ThbSettings) -> str | None:
    if await conn.fetchval("SELECT 1 FROM bank_entries WHERE account = $1 AND entry_ref = $2",
                           account, entry.entry_ref):
        return None  # seen before (in another statement or notification): booked once
    ref = iso20022.find_reference(entry.references)
    wallet = None
    status, reason = "held", None
    if entry.satang == 0:
        reason = "zero_amount"
    elif ref is None:
        reason = "no_reference"
    elif not reference.is_valid(ref):
        reason = "bad_reference_check_digits"
    else:
        wallet = await conn.fetchval("SELECT wallet FROM payment_references WHERE reference = $1", ref)
        if wallet is None:
            reason = "unknown_reference"
        elif entry.satang > settings.max_deposit_satang:
            reason = "above_max_deposit"
        else:
            today = await conn.fetchval(
                """SELECT coalesce(sum(amount_satang), 0) FROM bank_entries
                   WHERE status IN ('matched', 'minting', 'minted') AND matched_at >= date_trunc('day', now())""")
            if today + entry.satang > settings.daily_mint_cap_satang:
                reason = "daily_mint_cap"
            else:
                status = "matched"
    entry_id = await _insert_entry(conn, account, statement_id, entry, status, reason, ref, wallet)
    if entry_id is None:
        return None
    await audit(conn, f"deposit_{status}", wallet=wallet, amount=entry.satang, entry_id=entry_id,
                statement_id=statement_id, reason=reason, reference=ref, entry_ref=entry.entry_ref)
    return status


async def _book_debit(conn: asyncpg.Connection, account: str, statement_id: int, entry: iso20022.Entry) -> str | None:
    payout = None
    for text in entry.references:
        if text.startswith(PAYOUT_PREFIX) and text[len(PAYOUT_PREFIX):].isdigit():
            payout = await conn.fetchrow(
                "SELECT id, amount_satang, status, wallet FROM payouts WHERE id = $1 FOR UPDATE",
                int(text[len(PAYOUT_PREFIX):]))
            break
    ok = payout is not None and payout["status"] == "file_produced" and payout["amount_satang"] == entry.satang
    reason = None if ok else ("no_payout" if payout is None else "payout_mismatch")
    entry_id = await _insert_entry(conn, account, statement_id, entry, "payout" if ok else "unmatched_debit", reason,
                                   None, payout["wallet"] if payout else None)
    if entry_id is None:
        return None
    if ok:
        assert payout is not None
        await conn.execute("UPDATE payouts SET status = 'confirmed', debit_entry = $2, updated_at = now() "
                           "WHERE id = $1", payout["id"], entry_id)
        await audit(conn, "payout_confirmed", wallet=payout["wallet"], amount=entry.satang, entry_id=entry_id,
                    payout_id=payout["id"], statement_id=statement_id)
        return "payout"
    await audit(conn, "debit_unmatched", amount=entry.satang, entry_id=entry_id, statement_id=statement_id,
                reason=reason, entry_ref=entry.entry_ref)
    return "unmatched_debit"


# --- payouts ------------------------------------------------------------------------------------

async def create_payout(conn: asyncpg.Connection, wallet: str, satang: int, name: str, iban: str | None,
                        account_number: str | None, bic: str | None) -> asyncpg.Record:
    parse_wallet(wallet)
    if (iban is None) == (account_number is None):
        raise ValidationFailed("bad_payout_account", "give either an IBAN or a Thai bank account number")
    if iban is not None and not iso20022.is_iban(iban):
        raise ValidationFailed("bad_iban", "not a valid IBAN (format or check digits)")
    if account_number is not None and not (account_number.isdigit() and 10 <= len(account_number) <= 15):
        raise ValidationFailed("bad_account_number", "a Thai bank account number is 10 to 15 digits")
    if bic is not None and not (len(bic) in (8, 11) and bic.isalnum()):
        raise ValidationFailed("bad_bic", "a BIC has 8 or 11 letters and digits")
    async with conn.transaction():
        if await conn.fetchval("SELECT 1 FROM users WHERE wallet = $1", wallet) is None:
            raise NotFound("unknown_user", "register the wallet before withdrawing")
        row = await conn.fetchrow(
            """INSERT INTO payouts (wallet, amount_satang, creditor_name, iban, account_number, bank_bic)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            wallet, satang, name, iban.replace(" ", "").upper() if iban else None, account_number, bic)
        await audit(conn, "payout_requested", wallet=wallet, amount=satang, payout_id=row["id"])
    return row


async def payout(conn: asyncpg.Connection, payout_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM payouts WHERE id = $1", payout_id)
    if row is None:
        raise NotFound("unknown_payout", f"no payout request {payout_id}")
    return row


async def mark_burned(conn: asyncpg.Connection, payout_id: int, signature: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        """UPDATE payouts SET status = 'burned', burn_signature = $2, updated_at = now()
           WHERE id = $1 AND status = 'requested' RETURNING *""", payout_id, signature)
    if row is None:
        raise Conflict("payout_not_requested", "the payout is not waiting for its burn")
    await audit(conn, "payout_burned", wallet=row["wallet"], amount=row["amount_satang"], payout_id=payout_id,
                signature=signature)
    return row


async def produce_file(pool: asyncpg.Pool, settings: ThbSettings) -> asyncpg.Record | None:
    """One pain.001 for every burned payout not yet in a file; None when there is none."""
    if settings.reserve_account is None:
        raise Conflict("no_reserve_account", "set GTX_THB_RESERVE_ACCOUNT to produce payment files")
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("SELECT * FROM payouts WHERE status = 'burned' ORDER BY id FOR UPDATE")
        if not rows:
            return None
        file_id = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('payout_files', 'id'))")
        message_id = f"GTXPF-{file_id}"
        transfers = [iso20022.Transfer(f"{PAYOUT_PREFIX}{r['id']}", r["amount_satang"], r["creditor_name"], r["iban"],
                                       r["account_number"], r["bank_bic"], f"GridTokenX THB withdrawal {r['id']}")
                     for r in rows]
        today = await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
        xml = iso20022.pain001(message_id, iso20022.Debtor(settings.reserve_account_name, settings.reserve_account,
                                                           settings.reserve_bank_bic), transfers, execution=today)
        total = sum(r["amount_satang"] for r in rows)
        row = await conn.fetchrow(
            """INSERT INTO payout_files (id, message_id, payouts, total_satang, xml) VALUES ($1, $2, $3, $4, $5)
               RETURNING *""", file_id, message_id, len(rows), total, xml.decode())
        await conn.execute("UPDATE payouts SET status = 'file_produced', file_id = $2, updated_at = now() "
                           "WHERE id = ANY($1::bigint[])", [r["id"] for r in rows], file_id)
        for r in rows:
            await audit(conn, "payout_file_produced", wallet=r["wallet"], amount=r["amount_satang"], payout_id=r["id"],
                        message_id=message_id)
        return row


# --- reserve ------------------------------------------------------------------------------------

async def reserve_books(conn: asyncpg.Connection) -> dict[str, Any]:
    """What the books say the reserve must hold besides the token supply. ``minting``:
    (signature, amount) of mints sent or about to be; the caller asks the chain which landed."""
    bank = await conn.fetchrow(
        """SELECT closing_balance, closing_date, statement_id FROM bank_statements
           WHERE message_type = 'camt.053' ORDER BY closing_date DESC NULLS LAST, id DESC LIMIT 1""")
    sums = await conn.fetchrow(
        """SELECT coalesce(sum(amount_satang) FILTER (WHERE direction = 'CRDT' AND status = 'held'), 0) AS held,
                  coalesce(sum(amount_satang) FILTER (WHERE status = 'matched'), 0) AS in_flight,
                  coalesce(sum(amount_satang) FILTER (WHERE status = 'minted'), 0) AS minted
           FROM bank_entries""")
    minting = await conn.fetch("SELECT mint_signature, amount_satang FROM bank_entries WHERE status = 'minting'")
    open_payouts = await conn.fetchval(
        "SELECT coalesce(sum(amount_satang), 0) FROM payouts WHERE status IN ('burned', 'file_produced')")
    return {"bank_balance": None if bank is None else bank["closing_balance"],
            "bank_balance_date": None if bank is None else bank["closing_date"],
            "statement_id": None if bank is None else bank["statement_id"],
            "held": int(sums["held"]), "in_flight": int(sums["in_flight"]), "payouts_open": int(open_payouts),
            "minting": [(r["mint_signature"], r["amount_satang"]) for r in minting]}
