"""A durable LiteSVM node: the programs run in LiteSVM, every confirmed transaction's
account writes are journalled to SQLite, and the state is recovered on start.

Durability. After LiteSVM executes a transaction, the node reads back every account the
transaction may have written (the message's writable keys) and commits, in one SQLite
transaction, the new states of those accounts together with the transaction's record
(signature, slot, outcome, logs, the addresses it named). SQLite runs in WAL mode with
``synchronous=FULL``, so a committed transaction survives a power cut and an uncommitted
one leaves no trace. A client hears the signature only after that commit, so what a
client saw confirmed is on disk. On start the node loads every stored account into a fresh
LiteSVM: the stored table *is* the state (write-through), no replay is needed.

Exactly once. A transaction whose signature is stored is never executed again, also after
a restart (LiteSVM's own signature cache is in memory): a resend answers the stored
signature, as a cluster ignores a resent processed transaction.

Blockhashes. The node makes its own: ``sha256(genesis seed || slot)``, the seed drawn
once per data directory, and accepts a transaction whose blockhash is one of the last
:data:`RECENT_BLOCKHASHES` (LiteSVM's check is off). Every executed transaction advances
the slot, so blockhashes differ after a restart as they differ on a cluster.

Programs are deployed as the upgradeable loader deploys them (Program and ProgramData
accounts, ProgramData naming the upgrade authority), so programs that check their upgrade
authority in ``initialize`` see a real one. A data directory keeps its programs; a build
whose bytes differ from the stored ones is redeployed in place (an upgrade, same authority).

Without a data directory the same code keeps its store in an in-memory SQLite database:
one code path, measured both ways by ``bench``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.rpc.responses import GetSignatureStatusesResp, GetTransactionResp, RpcResponseContext
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    EncodedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransactionStatusMeta,
)

from aggregator.chain.errors import NodeError
from aggregator.chain.programs import GtxProgram

RECENT_BLOCKHASHES = 150  # as many as a cluster keeps valid
FEE_LAMPORTS_PER_SIGNATURE = 5_000
UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
PROGRAMDATA_HEADER = 45  # enum tag u32, slot u64, Option<Pubkey> (1 + 32)
STORE_FILE = "chain.sqlite"
FAUCET_LAMPORTS = 10**18
SYSTEM_PROGRAM = Pubkey.default()

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    address TEXT PRIMARY KEY, lamports INTEGER NOT NULL, data BLOB NOT NULL, owner TEXT NOT NULL,
    executable INTEGER NOT NULL, rent_epoch INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS accounts_owner ON accounts (owner);
CREATE TABLE IF NOT EXISTS txs (
    seq INTEGER PRIMARY KEY, signature TEXT NOT NULL UNIQUE, slot INTEGER NOT NULL, ok INTEGER NOT NULL,
    err TEXT, logs TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tx_addresses (address TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (address, seq))
    WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Committed:
    """A transaction the node executed and committed: what subscribers are told."""

    signature: str
    slot: int
    ok: bool
    err: Any  # JSON form of the transaction error (None when ok)
    logs: list[str]
    accounts: dict[str, Account | None]  # written accounts, None where closed
    mentions: frozenset[str]


def _writable_keys(message: Any) -> list[Pubkey]:
    header = message.header
    keys = list(message.account_keys)
    signed = header.num_required_signatures
    writable = []
    for i, key in enumerate(keys):
        if i < signed:
            if i < signed - header.num_readonly_signed_accounts:
                writable.append(key)
        elif i < len(keys) - header.num_readonly_unsigned_accounts:
            writable.append(key)
    return writable


def _live(account: Account | None) -> Account | None:
    return None if account is None or (account.lamports == 0 and not account.data) else account


class Node:
    """LiteSVM plus its SQLite store. Not thread-safe: one caller at a time (the server
    holds a lock)."""

    def __init__(self, data_dir: Path | None, programs: Iterable[GtxProgram] = (), *,
                 upgrade_authority: Pubkey | None = None, faucet: bool = True) -> None:
        self.data_dir = data_dir
        self.faucet = faucet
        self._lock_file = None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(data_dir / "node.lock", "a+")  # noqa: SIM115 - held for the node's life
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                self._lock_file.close()
                raise NodeError(f"another node holds {data_dir} (lock {data_dir / 'node.lock'}); "
                                f"one node per data directory") from exc
            self._lock_file.seek(0)
            self._lock_file.truncate()
            self._lock_file.write(f"{os.getpid()}\n")  # who holds it, for an operator's `kill`
            self._lock_file.flush()
            self.db = sqlite3.connect(data_dir / STORE_FILE, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        else:
            self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)
        self.svm = LiteSVM()
        self.svm.with_blockhash_check(False)
        self.programs: dict[Pubkey, GtxProgram] = {}
        self.listeners: list[Callable[[Committed], None]] = []
        started = time.monotonic()
        self.seed = self._meta("genesis_seed") or self._set_meta_now("genesis_seed", os.urandom(32).hex())
        self.slot = int(self._meta("slot") or 0)
        self.recovered_accounts = self._load_accounts()
        self.recovery_s = time.monotonic() - started
        self._blockhashes: OrderedDict[Hash, int] = OrderedDict()
        for slot in range(max(0, self.slot - RECENT_BLOCKHASHES + 1), self.slot + 1):
            self._remember_blockhash(slot)
        self.faucet_key = Keypair.from_seed(hashlib.sha256(bytes.fromhex(self.seed) + b"faucet").digest())
        if faucet and self.account(self.faucet_key.pubkey()) is None:
            self._genesis_account(self.faucet_key.pubkey(), Account(FAUCET_LAMPORTS, b"", SYSTEM_PROGRAM, False, 0))
        for program in programs:
            self.deploy(program, upgrade_authority)
        self.set_time(int(time.time()))

    # --- store -------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta_now(self, key: str, value: str) -> str:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        return value

    def _load_accounts(self) -> int:
        n = 0
        # Program data first: an executable program account is loaded from its ProgramData.
        for address, lamports, data, owner, executable, rent_epoch in self.db.execute(
                "SELECT address, lamports, data, owner, executable, rent_epoch FROM accounts ORDER BY executable"):
            self.svm.set_account(Pubkey.from_string(address),
                                 Account(lamports, bytes(data), Pubkey.from_string(owner), bool(executable),
                                         rent_epoch))
            n += 1
        return n

    def _write_account(self, address: Pubkey, account: Account | None) -> None:
        if account is None:
            self.db.execute("DELETE FROM accounts WHERE address = ?", (str(address),))
        else:
            self.db.execute(
                "INSERT OR REPLACE INTO accounts (address, lamports, data, owner, executable, rent_epoch) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (str(address), account.lamports, bytes(account.data), str(account.owner), int(account.executable),
                 account.rent_epoch))

    # --- programs and clock ----------------------------------------------------------------
    def deploy(self, program: GtxProgram, upgrade_authority: Pubkey | None) -> str:
        """Deploy `program` with the upgradeable loader's layout; "deployed", "upgraded" or
        "unchanged"."""
        elf = program.so_path.read_bytes()
        programdata = Pubkey.find_program_address([bytes(program.program_id)], UPGRADEABLE_LOADER)[0]
        self.programs[program.program_id] = program
        stored = _live(self.svm.get_account(programdata))
        if stored is not None and bytes(stored.data)[PROGRAMDATA_HEADER:] == elf:
            return "unchanged"
        if stored is not None:  # an upgrade keeps the stored authority
            raw = bytes(stored.data)
            authority = Pubkey.from_bytes(raw[14:46]) if raw[12] == 1 else None
        else:
            authority = upgrade_authority
        head = struct.pack("<IQ", 3, self.slot) + (b"\x01" + bytes(authority) if authority else b"\x00" * 33)
        pd_data = head + elf
        pd_account = Account(self.svm.minimum_balance_for_rent_exemption(len(pd_data)), pd_data,
                             UPGRADEABLE_LOADER, False, 0)
        p_data = struct.pack("<I", 2) + bytes(programdata)
        p_account = Account(self.svm.minimum_balance_for_rent_exemption(len(p_data)), p_data,
                            UPGRADEABLE_LOADER, True, 0)
        self._genesis_account(programdata, pd_account, program.program_id, p_account)
        return "upgraded" if stored is not None else "deployed"

    def _genesis_account(self, *pairs: Any) -> None:
        """Set accounts outside any transaction (faucet, programs), committed atomically."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for address, account in zip(pairs[::2], pairs[1::2]):
                self.svm.set_account(address, account)
                self._write_account(address, account)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def upgrade_authority(self, program_id: Pubkey) -> Pubkey | None:
        programdata = Pubkey.find_program_address([bytes(program_id)], UPGRADEABLE_LOADER)[0]
        acc = _live(self.svm.get_account(programdata))
        if acc is None or bytes(acc.data)[12] != 1:
            return None
        return Pubkey.from_bytes(bytes(acc.data)[13:45])

    def set_time(self, unix_timestamp: int) -> None:
        c = self.svm.get_clock()
        self.svm.set_clock(Clock(self.slot, c.epoch_start_timestamp, c.epoch, c.leader_schedule_epoch, unix_timestamp))

    # --- blockhashes ---------------------------------------------------------------------
    def _blockhash(self, slot: int) -> Hash:
        return Hash(hashlib.sha256(bytes.fromhex(self.seed) + slot.to_bytes(8, "little")).digest())

    def _remember_blockhash(self, slot: int) -> None:
        self._blockhashes[self._blockhash(slot)] = slot
        while len(self._blockhashes) > RECENT_BLOCKHASHES:
            self._blockhashes.popitem(last=False)

    def latest_blockhash(self) -> tuple[Hash, int]:
        """The newest blockhash and the last block height at which it is valid."""
        return self._blockhash(self.slot), self.slot + RECENT_BLOCKHASHES

    def blockhash_valid(self, blockhash: Hash) -> bool:
        return blockhash in self._blockhashes

    # --- reads ---------------------------------------------------------------------------
    def account(self, address: Pubkey) -> Account | None:
        return _live(self.svm.get_account(address))

    def program_accounts(self, owner: Pubkey) -> list[tuple[str, Account]]:
        rows = self.db.execute("SELECT address, lamports, data, owner, executable, rent_epoch FROM accounts "
                               "WHERE owner = ? ORDER BY address", (str(owner),))
        return [(a, Account(lam, bytes(d), Pubkey.from_string(o), bool(x), r)) for a, lam, d, o, x, r in rows]

    def status(self, signature: str) -> tuple[int, Any] | None:
        """(slot, error JSON) of a stored transaction, or None."""
        row = self.db.execute("SELECT slot, err FROM txs WHERE signature = ?", (signature,)).fetchone()
        return None if row is None else (row[0], None if row[1] is None else json.loads(row[1]))

    def transaction_record(self, signature: str) -> Any:
        row = self.db.execute("SELECT record FROM txs WHERE signature = ?", (signature,)).fetchone()
        return None if row is None else json.loads(row[0])

    def signatures_for_address(self, address: str, *, before: str | None, until: str | None,
                               limit: int) -> list[tuple[str, int, Any]]:
        """(signature, slot, error JSON), newest first, strictly older than `before` and newer
        than `until`. An unknown `before` yields nothing; an unknown `until` bounds nothing."""
        upper, lower = None, 0
        if before is not None:
            row = self.db.execute("SELECT seq FROM txs WHERE signature = ?", (before,)).fetchone()
            if row is None:
                return []
            upper = row[0]
        if until is not None:
            row = self.db.execute("SELECT seq FROM txs WHERE signature = ?", (until,)).fetchone()
            lower = 0 if row is None else row[0]
        rows = self.db.execute(
            "SELECT t.signature, t.slot, t.err FROM tx_addresses a JOIN txs t ON t.seq = a.seq "
            "WHERE a.address = ? AND a.seq > ? AND a.seq < ? ORDER BY a.seq DESC LIMIT ?",
            (address, lower, upper if upper is not None else 2**62, limit))
        return [(s, slot, None if e is None else json.loads(e)) for s, slot, e in rows]

    def transaction_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM txs").fetchone()[0]

    # --- writes --------------------------------------------------------------------------
    def send(self, tx: VersionedTransaction) -> str:
        """Execute and commit `tx`; its signature. A stored signature is not run again."""
        signature = str(tx.signatures[0])
        if self.status(signature) is not None:
            return signature
        if not self.blockhash_valid(tx.message.recent_blockhash):
            raise NodeError("Blockhash not found")
        payer = tx.message.account_keys[0]
        payer_before = self.svm.get_balance(payer) or 0
        self.svm.set_clock(self._clock_at(self.slot + 1))
        outcome = self.svm.send_transaction(tx)
        failed = isinstance(outcome, FailedTransactionMetadata)
        meta = outcome.meta() if isinstance(outcome, FailedTransactionMetadata) else outcome
        if isinstance(outcome, FailedTransactionMetadata) and (self.svm.get_balance(payer) or 0) == payer_before:
            # refused before execution (bad signature, no fee payer, no funds for the fee):
            # it never lands, as on a cluster; nothing to keep
            raise NodeError(f"transaction refused: {outcome.err()}")
        written = {str(k): _live(self.svm.get_account(k)) for k in _writable_keys(tx.message)}
        self._commit(signature, tx, failed, outcome, meta, written)
        return signature

    def _clock_at(self, slot: int) -> Clock:
        c = self.svm.get_clock()
        return Clock(slot, c.epoch_start_timestamp, c.epoch, c.leader_schedule_epoch, max(c.unix_timestamp,
                                                                                          int(time.time())))

    def _commit(self, signature: str, tx: VersionedTransaction, failed: bool, outcome: Any, meta: Any,
                written: dict[str, Account | None]) -> None:
        slot = self.slot + 1
        err_obj = outcome.err() if failed else None
        status = GetSignatureStatusesResp([TransactionStatus(slot, None, None, err_obj,
                                                             TransactionConfirmationStatus.Finalized)],
                                          RpcResponseContext(slot))
        err = json.loads(status.to_json())["result"]["value"][0]["err"]
        logs = list(meta.logs())
        fee = FEE_LAMPORTS_PER_SIGNATURE * len(tx.signatures)
        ui_meta = UiTransactionStatusMeta(err_obj, fee, [], [], log_messages=logs,
                                          compute_units_consumed=meta.compute_units_consumed())
        record = json.loads(GetTransactionResp(EncodedConfirmedTransactionWithStatusMeta(
            slot, EncodedTransactionWithStatusMeta(tx, ui_meta, None), None)).to_json())["result"]
        mentions = frozenset(str(k) for k in tx.message.account_keys)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute("INSERT INTO txs (signature, slot, ok, err, logs, record) VALUES (?, ?, ?, ?, ?, ?)",
                             (signature, slot, int(not failed), None if err is None else json.dumps(err),
                              json.dumps(logs), json.dumps(record)))
            seq = cur.lastrowid
            db.executemany("INSERT OR IGNORE INTO tx_addresses (address, seq) VALUES (?, ?)",
                           [(a, seq) for a in mentions])
            for address, account in written.items():
                self._write_account(Pubkey.from_string(address), account)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('slot', ?)", (str(slot),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.slot = slot
        self._remember_blockhash(slot)
        event = Committed(signature, slot, not failed, err, logs, written, mentions)
        for listener in self.listeners:
            listener(event)

    def simulate(self, tx: VersionedTransaction) -> dict[str, Any]:
        outcome = self.svm.simulate_transaction(tx)
        failed = isinstance(outcome, FailedTransactionMetadata)
        meta = outcome.meta() if failed else outcome.meta()
        err = None
        if isinstance(outcome, FailedTransactionMetadata):
            status = GetSignatureStatusesResp([TransactionStatus(self.slot, None, None, outcome.err(),
                                                                 TransactionConfirmationStatus.Processed)],
                                              RpcResponseContext(self.slot))
            err = json.loads(status.to_json())["result"]["value"][0]["err"]
        return {"err": err, "logs": list(meta.logs()), "accounts": None,
                "unitsConsumed": meta.compute_units_consumed(), "returnData": None}

    def airdrop(self, to: Pubkey, lamports: int) -> str:
        """Credit `to` (dev chains only): a system transfer from the node's faucet key,
        executed and journalled like any transaction."""
        if not self.faucet:
            raise NodeError("airdrops are disabled on this node")
        blockhash, _ = self.latest_blockhash()
        tx = Transaction.new_signed_with_payer([transfer(TransferParams(
            from_pubkey=self.faucet_key.pubkey(), to_pubkey=to, lamports=lamports))],
            self.faucet_key.pubkey(), [self.faucet_key], blockhash)
        return self.send(VersionedTransaction.from_legacy(tx))

    def close(self) -> None:
        self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()
