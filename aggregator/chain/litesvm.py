"""In-process chain: the real Solana VM (LiteSVM, from solders) with our programs loaded.

This is the embedded default for the demo and the tests: the same `.so` files a cluster
would run, executed by the same SBPF interpreter, with SPL Token built in. Transactions
are signed and fee-paid as on a cluster; results carry logs, compute units and decoded
errors.

LiteSVM keeps no transaction history, so :class:`LocalChain` keeps a bounded journal of
the transactions it executed (see :class:`Journal`): the history an indexer reads, as it
would read ``getSignaturesForAddress``/``getTransaction`` from a cluster.
"""

from __future__ import annotations

import struct
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from aggregator.chain.errors import ChainError
from aggregator.chain.programs import UPGRADEABLE_LOADER, GtxProgram, localnet_deployer
from aggregator.chain.transactions import TxResult, decode_error, decompile

RECENT_BLOCKHASHES = 150  # as many as a cluster keeps valid


@dataclass(slots=True)
class JournalEntry:
    """One executed transaction. ``seq`` numbers transactions in execution order (LiteSVM's
    slot does not advance by itself, so the sequence stands in for it)."""

    seq: int
    ok: bool
    logs: list[str]
    tx: Transaction
    _keys: frozenset[Pubkey] | None = None

    @property
    def account_keys(self) -> frozenset[Pubkey]:
        # Computed on first use, not in `send`: most entries are never asked for.
        if self._keys is None:
            self._keys = frozenset(self.tx.message.account_keys)
        return self._keys


class Journal:
    """The last ``capacity`` transactions, by signature, oldest first.

    When full, the oldest entry is dropped, as a cluster's RPC node prunes old ledger; a
    reader whose ``until`` signature has been dropped gets everything still kept.
    Appending is two dict operations, cheap enough for the benchmarks' hot path.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("journal capacity must be at least 1")
        self.capacity = capacity
        self.entries: OrderedDict[str, JournalEntry] = OrderedDict()
        self.next_seq = 1

    def append(self, signature: str, ok: bool, logs: list[str], tx: Transaction) -> None:
        if signature in self.entries:
            return  # a resent duplicate is refused by the VM; the first outcome stands
        self.entries[signature] = JournalEntry(self.next_seq, ok, logs, tx)
        self.next_seq += 1
        if len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def get(self, signature: str) -> JournalEntry | None:
        return self.entries.get(signature)

    def signatures_for_address(self, address: Pubkey, *, before: str | None = None, until: str | None = None,
                               limit: int = 1000) -> list[tuple[str, int]]:
        """(signature, seq) of transactions that named `address`, newest first, strictly older
        than `before` and strictly newer than `until` (getSignaturesForAddress semantics)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if before is not None and before not in self.entries:
            return []
        found: list[tuple[str, int]] = []
        started = before is None
        for signature in reversed(self.entries):
            if not started:
                started = signature == before
                continue
            if signature == until:
                break
            entry = self.entries[signature]
            if address in entry.account_keys:
                found.append((signature, entry.seq))
                if len(found) == limit:
                    break
        return found


class LocalChain:
    """LiteSVM with the GridTokenX programs deployed at their localnet ids."""

    def __init__(self, programs: Iterable[GtxProgram] = (), *, unix_timestamp: int | None = None,
                 journal_size: int = 10_000, upgrade_authority: Pubkey | None = None) -> None:
        self.svm = LiteSVM()
        # Programs are deployed with the upgradeable loader, as on a cluster; their upgrade
        # authority (the localnet deployer unless given) is the one key `initialize` accepts.
        self.upgrade_authority = upgrade_authority or localnet_deployer().pubkey()
        self.journal = Journal(journal_size)
        self.programs: dict[Pubkey, GtxProgram] = {}
        self._served_blockhashes: OrderedDict[Hash, None] = OrderedDict()
        for program in programs:
            self.deploy(program)
        self.set_time(int(time.time()) if unix_timestamp is None else unix_timestamp)

    def deploy(self, program: GtxProgram) -> None:
        if not program.so_path.exists():
            raise FileNotFoundError(f"{program.so_path} is missing: build it with `python -m tools.sbpf.build`")
        elf = program.so_path.read_bytes()
        # bincode UpgradeableLoaderState::ProgramData { slot: 0, upgrade_authority: Some(..) } + ELF,
        # and the executable Program { programdata_address } account at the program id.
        program_data = struct.pack("<IQ", 3, 0) + b"\x01" + bytes(self.upgrade_authority) + elf
        program_account = struct.pack("<I", 2) + bytes(program.program_data)
        for address, data, executable in ((program.program_data, program_data, False),
                                          (program.program_id, program_account, True)):
            rent = self.svm.minimum_balance_for_rent_exemption(len(data))
            self.svm.set_account(address, Account(rent, data, UPGRADEABLE_LOADER, executable, 0))
        self.programs[program.program_id] = program

    def deployer(self) -> Keypair:
        """The localnet deployer, funded: the upgrade authority that may initialize the programs
        (when this chain was built with the default upgrade authority)."""
        kp = localnet_deployer()
        if (self.svm.get_balance(kp.pubkey()) or 0) < 1_000_000_000:
            self.fund(kp.pubkey())
        return kp

    def set_time(self, unix_timestamp: int) -> None:
        c = self.svm.get_clock()
        self.svm.set_clock(Clock(c.slot, c.epoch_start_timestamp, c.epoch, c.leader_schedule_epoch, unix_timestamp))

    def fund(self, pubkey: Pubkey, lamports: int = 10_000_000_000) -> None:
        self.svm.airdrop(pubkey, lamports)

    def new_funded_keypair(self, lamports: int = 10_000_000_000) -> Keypair:
        kp = Keypair()
        self.fund(kp.pubkey(), lamports)
        return kp

    def account(self, pubkey: Pubkey) -> Account | None:
        acc = self.svm.get_account(pubkey)
        return None if acc is None or (acc.lamports == 0 and not acc.data) else acc

    def balance(self, pubkey: Pubkey) -> int:
        return self.svm.get_balance(pubkey) or 0

    def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair],
             *, payer: Keypair | None = None, check: bool = True) -> TxResult:
        """Sign with `signers` (the first pays unless `payer` is given) and execute.

        Raises ChainError on failure when `check` is true; otherwise returns the failed result.
        """
        fee_payer = payer or signers[0]
        all_signers = list(dict.fromkeys([fee_payer, *signers]))
        tx = Transaction.new_signed_with_payer(list(instructions), fee_payer.pubkey(), all_signers,
                                               self.svm.latest_blockhash())
        outcome = self.svm.send_transaction(tx)
        # A fresh blockhash per transaction keeps identical retries distinct.
        self.svm.expire_blockhash()
        result = self._result(outcome, instructions)
        self.journal.append(result.signature, result.ok, result.logs, tx)
        if check and not result.ok:
            raise ChainError(result)
        return result

    # --- transactions signed elsewhere (the aggregator relays users' own) ------------------
    def recent_blockhash(self) -> Hash:
        """The blockhash for a transaction signed outside this process.

        LiteSVM accepts only its latest blockhash, which changes after every transaction, so
        a user's transaction would go stale while the service keeps sending its own. A
        cluster accepts any of its last ~150 blockhashes; this keeps the same kind of window
        over the hashes handed out here, and :meth:`send_signed` enforces it (LiteSVM's own
        check is turned off for that)."""
        if not self._served_blockhashes:
            self.svm.with_blockhash_check(False)
        blockhash = self.svm.latest_blockhash()
        self._served_blockhashes[blockhash] = None
        while len(self._served_blockhashes) > RECENT_BLOCKHASHES:
            self._served_blockhashes.popitem(last=False)
        return blockhash

    def knows_blockhash(self, blockhash: Hash) -> bool:
        """Whether a transaction signed over `blockhash` may run: the latest one, or one
        handed out by :meth:`recent_blockhash` within the window."""
        return blockhash == self.svm.latest_blockhash() or blockhash in self._served_blockhashes

    def send_signed(self, tx: Transaction) -> TxResult:
        """Execute a transaction signed elsewhere; its outcome is returned, never raised.

        A blockhash never handed out by :meth:`recent_blockhash` (or too old) is refused as a
        cluster refuses an unknown one, without executing anything."""
        if not self.knows_blockhash(tx.message.recent_blockhash):
            return TxResult(str(tx.signatures[0]), False, [], 0, error="BlockhashNotFound",
                            error_name="BlockhashNotFound")
        outcome = self.svm.send_transaction(tx)
        self.svm.expire_blockhash()
        result = self._result(outcome, decompile(tx.message))
        self.journal.append(result.signature, result.ok, result.logs, tx)
        return result

    def _result(self, outcome, instructions: Sequence[Instruction]) -> TxResult:
        if isinstance(outcome, FailedTransactionMetadata):
            meta = outcome.meta()
            result = TxResult(str(meta.signature()), False, list(meta.logs()), meta.compute_units_consumed())
            decode_error(result, outcome.err(), instructions, self.programs)
            return result
        return TxResult(str(outcome.signature()), True, list(outcome.logs()), outcome.compute_units_consumed())
