"""One chain interface, two backends.

* :class:`LiteSvmBackend` — the programs executed in-process by LiteSVM (embedded default).
* :class:`RpcBackend` — any Solana JSON-RPC endpoint, through solana-py (a real cluster,
  or ``python -m tools.localnet``).

Both send signed transactions and read accounts, and both return :class:`TxResult` with
errors decoded from the programs' IDLs, so services above never see which one they use.
Both also serve transaction history with Solana's semantics (``signatures_for_address``
newest first, bounded by ``before``/``until``; ``transaction`` for one signature's
outcome and logs), which is what the indexer reads: from LiteSVM's journal in-process,
from ``getSignaturesForAddress``/``getTransaction`` over RPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.types import TxOpts
from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from aggregator.chain.errors import ChainError, HistoryError
from aggregator.chain.litesvm import LocalChain
from aggregator.chain.programs import GtxProgram
from aggregator.chain.transactions import TxResult, decode_error, decompile

MAX_MULTIPLE_ACCOUNTS = 100  # getMultipleAccounts limit of Solana's RPC


class SignatureInfo(NamedTuple):
    """A transaction that named an address; `slot` orders them (a sequence number on LiteSVM)."""

    signature: str
    slot: int


class TxRecord(NamedTuple):
    """An executed transaction as history reports it: failed ones are kept, with ok=False."""

    slot: int
    ok: bool
    logs: list[str]


class ChainBackend(Protocol):
    async def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair], *,
                   payer: Keypair | None = None, check: bool = True) -> TxResult: ...

    async def account(self, pubkey: Pubkey) -> Account | None: ...

    async def latest_blockhash(self) -> Hash:
        """A blockhash a transaction signed elsewhere (by a user's wallet) may use."""
        ...

    async def send_signed(self, tx: Transaction) -> TxResult:
        """Send a transaction signed elsewhere; its outcome (errors decoded) is returned,
        never raised."""
        ...

    async def accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        """Several accounts in one round trip (None where an account does not exist)."""
        ...

    async def signatures_for_address(self, address: Pubkey, *, until: str | None, limit: int,
                                     before: str | None = None) -> list[SignatureInfo]:
        """Up to `limit` transactions that named `address`, newest first, strictly newer than
        `until` and strictly older than `before` (either may be None)."""
        ...

    async def transaction(self, signature: str) -> TxRecord | None:
        """One transaction's slot, outcome and logs; None if the backend does not know it."""
        ...

    async def close(self) -> None: ...


class LiteSvmBackend:
    """Async face of a :class:`LocalChain`; calls run inline (each takes about a millisecond)."""

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain

    async def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair], *,
                   payer: Keypair | None = None, check: bool = True) -> TxResult:
        return self.chain.send(instructions, signers, payer=payer, check=check)

    async def account(self, pubkey: Pubkey) -> Account | None:
        return self.chain.account(pubkey)

    async def latest_blockhash(self) -> Hash:
        return self.chain.recent_blockhash()

    async def send_signed(self, tx: Transaction) -> TxResult:
        return self.chain.send_signed(tx)

    async def accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        return [self.chain.account(p) for p in pubkeys]

    async def signatures_for_address(self, address: Pubkey, *, until: str | None, limit: int,
                                     before: str | None = None) -> list[SignatureInfo]:
        found = self.chain.journal.signatures_for_address(address, before=before, until=until, limit=limit)
        return [SignatureInfo(signature, seq) for signature, seq in found]

    async def transaction(self, signature: str) -> TxRecord | None:
        entry = self.chain.journal.get(signature)
        return None if entry is None else TxRecord(entry.seq, entry.ok, entry.logs)

    async def close(self) -> None:
        return None


class RpcBackend:
    """Solana JSON-RPC through solana-py's AsyncClient.

    Transactions are sent without preflight and then confirmed and fetched, so a failed
    transaction reports its on-chain error and logs exactly as a successful one reports
    its compute units.
    """

    def __init__(self, url: str, programs: Iterable[GtxProgram], *, poll_s: float = 0.05,
                 timeout_s: float = 60.0) -> None:
        self.client = AsyncClient(url, commitment=Confirmed)
        self.programs = {p.program_id: p for p in programs}
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    async def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair], *,
                   payer: Keypair | None = None, check: bool = True) -> TxResult:
        fee_payer = payer or signers[0]
        blockhash = (await self.client.get_latest_blockhash()).value.blockhash
        tx = Transaction.new_signed_with_payer(list(instructions), fee_payer.pubkey(),
                                               list(dict.fromkeys([fee_payer, *signers])), blockhash)
        signature = (await self.client.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=True))).value
        meta = await self._wait_for(signature)
        result = TxResult(str(signature), meta.err is None, list(meta.log_messages or []),
                          meta.compute_units_consumed or 0)
        if meta.err is not None:
            decode_error(result, meta.err, instructions, self.programs)
            if check:
                raise ChainError(result)
        return result

    async def latest_blockhash(self) -> Hash:
        return (await self.client.get_latest_blockhash()).value.blockhash

    async def send_signed(self, tx: Transaction) -> TxResult:
        try:
            signature = (await self.client.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=True))).value
        except RPCException as exc:  # refused before execution (unknown blockhash, bad signature)
            return TxResult(str(tx.signatures[0]), False, [], 0, error=str(exc), error_name="TransactionRefused")
        meta = await self._wait_for(signature)
        result = TxResult(str(signature), meta.err is None, list(meta.log_messages or []),
                          meta.compute_units_consumed or 0)
        if meta.err is not None:
            decode_error(result, meta.err, decompile(tx.message), self.programs)
        return result

    async def _wait_for(self, signature: Signature):
        """Poll for the confirmed transaction, backing off from ``poll_s`` to 1 s: a
        transaction that never lands costs about ``timeout_s`` polls, not 20 a second."""
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        delay = self.poll_s
        while True:
            resp = await self.client.get_transaction(signature, encoding="base64", commitment=Confirmed,
                                                     max_supported_transaction_version=0)
            if resp.value is not None:
                return resp.value.transaction.meta
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"transaction {signature} not confirmed within {self.timeout_s} s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, max(self.poll_s, 1.0))

    async def account(self, pubkey: Pubkey) -> Account | None:
        return (await self.client.get_account_info(pubkey, commitment=Confirmed)).value

    async def accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        found: list[Account | None] = []
        for i in range(0, len(pubkeys), MAX_MULTIPLE_ACCOUNTS):
            chunk = list(pubkeys[i : i + MAX_MULTIPLE_ACCOUNTS])
            found += (await self.client.get_multiple_accounts(chunk, commitment=Confirmed)).value
        return found

    async def signatures_for_address(self, address: Pubkey, *, until: str | None, limit: int,
                                     before: str | None = None) -> list[SignatureInfo]:
        resp = await self.client.get_signatures_for_address(
            address, before=None if before is None else Signature.from_string(before),
            until=None if until is None else Signature.from_string(until), limit=limit, commitment=Confirmed)
        return [SignatureInfo(str(s.signature), s.slot) for s in resp.value]

    async def transaction(self, signature: str) -> TxRecord | None:
        resp = await self.client.get_transaction(Signature.from_string(signature), encoding="base64",
                                                 commitment=Confirmed, max_supported_transaction_version=0)
        if resp.value is None:
            return None
        meta = resp.value.transaction.meta
        if meta is None:
            raise HistoryError(f"transaction {signature} came without status metadata")
        return TxRecord(resp.value.slot, meta.err is None, list(meta.log_messages or []))

    async def close(self) -> None:
        await self.client.close()
