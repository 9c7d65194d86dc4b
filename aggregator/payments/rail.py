"""The THB rail: one interface (:class:`Rail`) between baht and the THB token, and its
bank-file implementation (:class:`BankFileRail`).

A rail issues payment references, turns recognised deposits into THB minted to the
depositor's wallet, turns a user's burn into a payout, and attests the reserve (what backs
the supply). :class:`BankFileRail` recognises deposits in the reserve account's ISO 20022
statements (camt.053/054) and pays out through pain.001 files; a bridge to a Thai baht
chain would implement the same :class:`Rail` with its own deposit and payout messages.

Minting: an import (HTTP or CLI, possibly another process) books matched deposits in
PostgreSQL; :meth:`BankFileRail.run` mints them. Each mint is signed, recorded with its
signature, then sent; a restart finds the recorded one and resends the same transaction
(the chain runs a signature at most once), so a deposit mints once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from aggregator.chain.backend import ChainBackend
from aggregator.chain.connect import Chain, load_keypair
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.trading import Trading
from aggregator.config import ThbSettings
from aggregator.errors import Conflict, ValidationFailed
from aggregator.payments import ledger
from aggregator.payments.token import MINT_BYTES, THB_DECIMALS, ThbToken, balance_of, supply_of
from aggregator.trading.desk import TradingDesk
from aggregator.trading.service import parse_transaction

log = logging.getLogger("aggregator.payments")

# The THB market opened on the in-process chain: 1 kWh lots and a tick of 1 satang per
# kWh, so every value (price * size / 1000) is a whole satang; 0.25 % fee.
THB_LOT_SIZE_WH = 1000
THB_TICK_SIZE = 1
THB_FEE_BPS = 25
MINT_BATCH = 50


class Rail(Protocol):
    """Baht in and out of the THB token, whatever carries the baht."""

    token: ThbToken

    async def reference_for(self, wallet: str) -> str:
        """The reference a deposit carries to credit `wallet`."""
        ...

    async def settle_once(self) -> int:
        """Mint recognised deposits; how many were minted."""
        ...

    async def request_withdrawal(self, wallet: str, satang: int, *, name: str, iban: str | None,
                                 account_number: str | None, bic: str | None) -> tuple[asyncpg.Record, str]:
        """(payout request, unsigned burn transaction for the wallet to sign)."""
        ...

    async def submit_burn(self, payout_id: int, transaction_b64: str) -> asyncpg.Record:
        """Send the wallet's signed burn of the payout's amount; the payout, now burned."""
        ...

    async def reserve(self) -> dict[str, Any]:
        """Backing against supply now, and per day."""
        ...


@dataclass
class BankFileRail:
    settings: ThbSettings
    pool: asyncpg.Pool
    backend: ChainBackend
    token: ThbToken

    # --- references and deposits ------------------------------------------------------------------
    async def reference_for(self, wallet: str) -> str:
        async with self.pool.acquire() as conn:
            return await ledger.reference_for(conn, wallet)

    async def import_file(self, data: bytes, *, source: str) -> ledger.ImportResult:
        result = await ledger.import_file(self.pool, data, self.settings, source=source)
        await self.settle_once()
        return result

    async def run(self) -> None:
        await self.recover()
        while True:
            try:
                if not await self.settle_once():
                    await self.snapshot(only_if_changed=True)  # imports by another process, payouts paid
            except Exception as exc:  # noqa: BLE001 - the loop outlives a database or chain hiccup
                log.warning("THB settle failed; retrying", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(self.settings.sweep_s)

    async def recover(self) -> None:
        """Finish what a stopped process left half-done: recorded mints and burns."""
        await self.resolve_minting()
        async with self.pool.acquire() as conn:
            for p in await conn.fetch("SELECT id, burn_signature FROM payouts WHERE status = 'requested' "
                                      "AND burn_signature IS NOT NULL"):
                record = await self.backend.transaction(p["burn_signature"])
                if record is not None and record.ok:
                    await ledger.mark_burned(conn, p["id"], p["burn_signature"])
                else:
                    await conn.execute("UPDATE payouts SET burn_signature = NULL WHERE id = $1", p["id"])

    async def resolve_minting(self) -> int:
        """Settle mints recorded but not known to have landed: the chain's record decides;
        one it does not know is resent as the same signed transaction, which runs at most
        once. A mint whose blockhash expired unsent stays ``minting`` (counted as owed in the
        reserve) for the operator: re-signing it could mint twice."""
        minted = 0
        async with self.pool.acquire() as conn:
            for row in await conn.fetch(
                    "SELECT id, mint_signature, mint_tx FROM bank_entries WHERE status = 'minting' ORDER BY id"):
                record = await self.backend.transaction(row["mint_signature"])
                if record is None:
                    await self.backend.send_signed(Transaction.from_bytes(row["mint_tx"]))
                    record = await self.backend.transaction(row["mint_signature"])
                if record is not None:
                    await self._minted(conn, row["id"], record.ok)
                    minted += record.ok
        return minted

    async def sign_mints(self, conn: asyncpg.Connection) -> list[tuple[asyncpg.Record, Transaction]]:
        """Sign the next batch of matched deposits' mints and record them (``minting``)."""
        assert self.token.authority is not None
        async with conn.transaction():
            rows = await conn.fetch(
                """SELECT id, wallet, amount_satang FROM bank_entries WHERE status = 'matched'
                   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""", MINT_BATCH)
            signed = []
            blockhash = await self.backend.latest_blockhash()
            for row in rows:
                tx = Transaction.new_signed_with_payer(
                    self.token.mint_instructions(Pubkey.from_string(row["wallet"]), row["amount_satang"]),
                    self.token.authority.pubkey(), [self.token.authority], blockhash)
                await conn.execute("UPDATE bank_entries SET status = 'minting', mint_signature = $2, "
                                   "mint_tx = $3 WHERE id = $1", row["id"], str(tx.signatures[0]), bytes(tx))
                signed.append((row, tx))
        return signed

    async def settle_once(self) -> int:
        if self.token.authority is None:
            return 0
        minted = await self.resolve_minting()
        async with self.pool.acquire() as conn:
            while True:
                signed = await self.sign_mints(conn)
                landed = 0
                for row, tx in signed:
                    result = await self.backend.send_signed(tx)
                    record = None if result.ok else await self.backend.transaction(result.signature)
                    if result.ok or record is not None:  # the chain has decided (its first outcome stands)
                        ok = result.ok or (record is not None and record.ok)
                        await self._minted(conn, row["id"], ok, logs=result.logs[-3:])
                    else:
                        await ledger.audit(conn, "mint_unconfirmed", wallet=row["wallet"], entry_id=row["id"],
                                           amount=row["amount_satang"], signature=result.signature)
                    landed += result.ok or (record is not None and record.ok)
                minted += landed
                if len(signed) < MINT_BATCH or not landed:
                    break
        if minted:
            await self.snapshot()
        return minted

    async def _minted(self, conn: asyncpg.Connection, entry_id: int, ok: bool, logs: list[str] | None = None) -> None:
        async with conn.transaction():
            row = await conn.fetchrow(
                """UPDATE bank_entries SET status = CASE WHEN $2 THEN 'minted' ELSE 'matched' END,
                        minted_at = CASE WHEN $2 THEN now() END,
                        mint_signature = CASE WHEN $2 THEN mint_signature END,
                        mint_tx = CASE WHEN $2 THEN mint_tx END
                    WHERE id = $1 AND status = 'minting' RETURNING wallet, amount_satang, mint_signature""",
                entry_id, ok)
            if row is None:
                return  # settled already (by another sweep)
            await ledger.audit(conn, "deposit_minted" if ok else "mint_failed", wallet=row["wallet"],
                               amount=row["amount_satang"], entry_id=entry_id, signature=row["mint_signature"],
                               logs=logs or [])

    # --- withdrawals --------------------------------------------------------------------------------
    async def request_withdrawal(self, wallet: str, satang: int, *, name: str, iban: str | None,
                                 account_number: str | None, bic: str | None) -> tuple[asyncpg.Record, str]:
        async with self.pool.acquire() as conn:
            row = await ledger.create_payout(conn, wallet, satang, name, iban, account_number, bic)
        return row, await self.burn_transaction(row)

    async def burn_transaction(self, payout: asyncpg.Record) -> str:
        """The burn for the wallet to sign; the rail's authority pays its fee and signs last."""
        if self.token.authority is None:
            raise Conflict("no_mint_authority", "this rail holds no THB authority: withdrawals are off")
        owner = Pubkey.from_string(payout["wallet"])
        message = Message.new_with_blockhash([self.token.burn_instruction(owner, payout["amount_satang"])],
                                             self.token.authority.pubkey(), await self.backend.latest_blockhash())
        return base64.b64encode(bytes(Transaction.new_unsigned(message))).decode()

    async def submit_burn(self, payout_id: int, transaction_b64: str) -> asyncpg.Record:
        tx = parse_transaction(transaction_b64)
        async with self.pool.acquire() as conn:
            payout = await ledger.payout(conn, payout_id)
            if payout["status"] != "requested":
                raise Conflict("payout_not_requested", f"payout {payout_id} is {payout['status']}")
            burn = self.token.burn_of(tx)
            if burn is None or burn != (Pubkey.from_string(payout["wallet"]), payout["amount_satang"]):
                raise ValidationFailed("not_the_burn", "the transaction must be exactly the payout's burn of THB "
                                       "from the requesting wallet's account, as returned with the payout")
            if not tx.verify_with_results()[1]:  # the wallet's; the authority's comes next
                raise ValidationFailed("bad_signature", "the wallet's signature does not verify")
            assert self.token.authority is not None
            tx.partial_sign([self.token.authority], tx.message.recent_blockhash)
            signature = str(tx.signatures[0])
            claimed = await conn.fetchval(
                "UPDATE payouts SET burn_signature = $2 WHERE id = $1 AND status = 'requested' "
                "AND burn_signature IS NULL RETURNING id", payout_id, signature)
            if claimed is None:
                raise Conflict("payout_not_requested", f"payout {payout_id} already has a burn in flight")
            result = await self.backend.send_signed(tx)
            if not result.ok:
                await conn.execute("UPDATE payouts SET burn_signature = NULL WHERE id = $1", payout_id)
                await ledger.audit(conn, "burn_failed", wallet=payout["wallet"], amount=payout["amount_satang"],
                                   payout_id=payout_id, logs=result.logs[-3:])
                raise Conflict("burn_failed", result.describe() if hasattr(result, "describe") else "burn refused",
                               logs=result.logs[-5:])
            row = await ledger.mark_burned(conn, payout_id, signature)
        await self.snapshot()
        return row

    async def produce_file(self) -> asyncpg.Record | None:
        return await ledger.produce_file(self.pool, self.settings)

    # --- reserve ------------------------------------------------------------------------------------
    async def supply(self) -> int:
        account = await self.backend.account(self.token.mint)
        if account is None:
            raise Conflict("no_thb_mint", "the THB mint does not exist on this chain")
        return supply_of(bytes(account.data))

    async def balance(self, wallet: Pubkey) -> int:
        account = await self.backend.account(self.token.token_account(wallet))
        return balance_of(None if account is None else bytes(account.data))

    async def reserve(self) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            books = await ledger.reserve_books(conn)
            now = await self._current(books)
            days = await conn.fetch(
                """SELECT DISTINCT ON (at::date) at::date AS day, bank_balance, supply, held, in_flight,
                          payouts_open, difference
                   FROM reserve_snapshots ORDER BY at::date DESC, id DESC LIMIT 366""")
        return {**now, "mint": str(self.token.mint), "decimals": THB_DECIMALS,
                "days": [{**dict(d), "day": d["day"].isoformat(), "flagged": d["difference"] != 0} for d in days]}

    async def _current(self, books: dict[str, Any]) -> dict[str, Any]:
        supply = await self.supply()
        for signature, amount in books.pop("minting"):  # a mint not yet on chain is still owed
            record = await self.backend.transaction(signature)
            if record is None or not record.ok:
                books["in_flight"] += amount
        bank = books["bank_balance"]
        backing_needed = supply + books["held"] + books["in_flight"] + books["payouts_open"]
        difference = None if bank is None else bank - backing_needed
        return {**books, "supply": supply, "backing_needed": backing_needed, "difference": difference,
                "flagged": difference != 0 if difference is not None else supply > 0,
                "at": datetime.now(UTC).isoformat()}

    async def snapshot(self, *, only_if_changed: bool = False) -> None:
        """Record the reserve as it stands (the per-day attestation reads these)."""
        fields = ("bank_balance", "supply", "held", "in_flight", "payouts_open", "difference")
        async with self.pool.acquire() as conn:
            now = await self._current(await ledger.reserve_books(conn))
            if only_if_changed:
                last = await conn.fetchrow(
                    f"SELECT {', '.join(fields)} FROM reserve_snapshots ORDER BY id DESC LIMIT 1")
                if (last is None and now["bank_balance"] is None and now["supply"] == 0) or (
                        last is not None and all(last[f] == now[f] for f in fields)):
                    return
            await conn.execute(
                """INSERT INTO reserve_snapshots (bank_balance, supply, held, in_flight, payouts_open, difference)
                   VALUES ($1, $2, $3, $4, $5, $6)""", now["bank_balance"], now["supply"], now["held"],
                now["in_flight"], now["payouts_open"], now["difference"])
            if now["flagged"]:
                await ledger.audit(conn, "reserve_difference", amount=now["difference"],
                                   **{k: now[k] for k in ("bank_balance", "supply", "held", "in_flight",
                                                          "payouts_open")})


# --- opening ------------------------------------------------------------------------------------

def _dev_authority(settings: ThbSettings) -> Keypair:
    path = settings.data_dir / "thb-mint-authority.json"
    if path.exists():
        return load_keypair(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(list(bytes(key)), f)
    log.warning("THB mint authority generated for the in-process development chain; set "
                "GTX_THB_MINT_AUTHORITY_KEYPAIR on a real cluster", extra={"fields": {"path": str(path)}})
    return key


async def open_rail(settings: ThbSettings, pool: asyncpg.Pool, chain: Chain | None,
                    desk: TradingDesk | None) -> BankFileRail | None:
    """The rail on this chain: on the in-process chain a fresh THB mint (and a THB market on
    the desk); on a cluster the configured mint, whose authority must be the configured key."""
    if chain is None or settings.enabled is False:
        return None
    if chain.local is None:
        configured = (settings.mint_authority_keypair is not None, settings.mint is not None)
        if configured == (False, False) and settings.enabled is None:
            return None  # no rail on this cluster
        if configured != (True, True):
            raise ChainSetupError("the THB rail on a cluster needs GTX_THB_MINT_AUTHORITY_KEYPAIR and GTX_THB_MINT "
                                  "(or GTX_THB_ENABLED=false)")
        assert settings.mint_authority_keypair is not None and settings.mint is not None
        authority = load_keypair(settings.mint_authority_keypair)
        try:
            token = ThbToken(Pubkey.from_string(settings.mint), authority)
        except ValueError as exc:
            raise ChainSetupError(f"GTX_THB_MINT {settings.mint!r} is not a base58 account address") from exc
        account = await chain.backend.account(token.mint)
        if account is None or bytes(account.data)[4:36] != bytes(authority.pubkey()) or \
                bytes(account.data)[44] != THB_DECIMALS:
            raise ChainSetupError(f"{settings.mint} is not a {THB_DECIMALS}-decimal mint whose authority is "
                                  f"{authority.pubkey()}")
        return BankFileRail(settings, pool, chain.backend, token)
    authority = load_keypair(settings.mint_authority_keypair) if settings.mint_authority_keypair \
        else _dev_authority(settings)
    local = chain.local
    local.fund(authority.pubkey())
    mint = Keypair()
    token = ThbToken(mint.pubkey(), authority)
    local.send(token.create_mint_instructions(authority.pubkey(), mint,
                                              local.svm.minimum_balance_for_rent_exemption(MINT_BYTES)),
               [authority, mint])
    if desk is not None and desk.matcher is not None and settings.open_market:
        desk.markets.append(open_thb_market(chain, desk.trading, token, desk.matcher.pubkey()))
    log.info("THB rail", extra={"fields": {"mint": str(token.mint), "authority": str(authority.pubkey())}})
    return BankFileRail(settings, pool, chain.backend, token)


def open_thb_market(chain: Chain, trading: Trading, token: ThbToken, matcher: Pubkey):  # type: ignore[no-untyped-def]
    """A continuous market paid in THB on the in-process chain (its fee account is the authority's)."""
    assert token.authority is not None
    local = chain.local_with(trading.program, "the THB market")
    authority = token.authority
    fee_account = token.token_account(authority.pubkey())
    local.send([*token.mint_instructions(authority.pubkey(), 0)[:1],
                trading.initialize_market(authority.pubkey(), token.mint, fee_account, matcher=matcher,
                                          fee_bps=THB_FEE_BPS, lot_size_wh=THB_LOT_SIZE_WH, tick_size=THB_TICK_SIZE)],
               [authority])
    return trading.market_ref(local, trading.market_address(authority.pubkey(), token.mint, 0))
