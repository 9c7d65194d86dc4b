"""`python -m tools.localnet` runs the node: the durable LiteSVM chain of
:mod:`aggregator.chain.node_server` (``--data-dir`` keeps its state; see that module).

The :class:`Localnet` class below serves an in-process :class:`LocalChain` that a test
has already set up, over the same JSON-RPC subset, so the RPC backend can be exercised
against a chain built in the test's own process. It serves the subset of the Solana JSON-RPC API that
clients such as solana-py use to send transactions and read accounts: getHealth,
getVersion, getSlot, getLatestBlockhash, sendTransaction, getSignatureStatuses,
getTransaction, getSignaturesForAddress, getAccountInfo, getMultipleAccounts, getBalance,
requestAirdrop, getMinimumBalanceForRentExemption. Responses are built with solders' RPC types, so they
parse exactly as a cluster's do. Transactions execute on arrival (no preflight
simulation); a failed transaction is recorded with its error, as a cluster records it.

It lets the aggregator's JSON-RPC chain backend be exercised for real where no validator
can be installed. The programs are deployed with the upgradeable loader, the localnet
deployer (`programs/keys/deployer-keypair.json`) as upgrade authority: that key initializes
them (request an airdrop for it first), as the deploying key does on a cluster.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from solders.account import Account
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetAccountInfoResp,
    GetBalanceResp,
    GetLatestBlockhashResp,
    GetMultipleAccountsResp,
    GetSignaturesForAddressResp,
    GetSignatureStatusesResp,
    GetTransactionResp,
    RpcBlockhash,
    RpcConfirmedTransactionStatusWithSignature,
    RpcResponseContext,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    EncodedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransactionStatusMeta,
)

from aggregator.chain.litesvm import RECENT_BLOCKHASHES, LocalChain

JSONRPC_INVALID_PARAMS = -32602
JSONRPC_METHOD_NOT_FOUND = -32601
FEE_LAMPORTS = 5_000
MAX_SIGNATURES_LIMIT = 1_000  # a cluster's cap for getSignaturesForAddress


class Localnet:
    """The RPC methods over one LocalChain; every call holds a lock (LiteSVM is not shared-safe)."""

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain
        self.svm = chain.svm
        self.lock = threading.Lock()
        self.slot = 1
        self.executed: dict[str, tuple[int, VersionedTransaction, Any]] = {}
        # Per address, the signatures of executed transactions that named it, oldest first,
        # and each signature's position in that list (so `before`/`until` are found in O(1)).
        self.by_address: dict[str, list[str]] = {}
        self.position: dict[tuple[str, str], int] = {}
        self.methods: dict[str, Callable[[list], Any]] = {
            "getHealth": lambda p: "ok",
            "getVersion": lambda p: {"solana-core": "litesvm-localnet", "feature-set": 0},
            "getSlot": lambda p: self.slot,
            "getLatestBlockhash": self.latest_blockhash,
            "sendTransaction": self.send_transaction,
            "getSignatureStatuses": self.signature_statuses,
            "getTransaction": self.transaction,
            "getSignaturesForAddress": self.signatures_for_address,
            "getAccountInfo": self.account_info,
            "getMultipleAccounts": self.multiple_accounts,
            "getBalance": self.balance,
            "requestAirdrop": self.airdrop,
            "getMinimumBalanceForRentExemption": lambda p: self.svm.minimum_balance_for_rent_exemption(int(p[0])),
        }

    def _context(self) -> RpcResponseContext:
        return RpcResponseContext(self.slot)

    @staticmethod
    def _result(resp) -> Any:
        return json.loads(resp.to_json())["result"]

    def latest_blockhash(self, params: list) -> Any:
        # As on a cluster, a transaction may use any recent blockhash handed out, not only the
        # newest: clients sending concurrently share one (LocalChain keeps the window).
        latest = self.chain.recent_blockhash()
        return self._result(GetLatestBlockhashResp(RpcBlockhash(latest, self.slot + RECENT_BLOCKHASHES),
                                                   self._context()))

    def send_transaction(self, params: list) -> Any:
        encoding = (params[1] if len(params) > 1 and params[1] else {}).get("encoding", "base58")
        if encoding != "base64":
            raise ValueError("only base64-encoded transactions are accepted")
        tx = VersionedTransaction.from_bytes(base64.b64decode(params[0]))
        signature = str(tx.signatures[0])
        if signature in self.executed:
            return signature  # a resend of a processed transaction: a cluster ignores it too
        if not self.chain.knows_blockhash(tx.message.recent_blockhash):
            raise ValueError("Blockhash not found")
        outcome = self.svm.send_transaction(tx)
        self.slot += 1
        self.svm.warp_to_slot(self.slot)
        self.svm.expire_blockhash()
        if signature not in self.executed:
            self.executed[signature] = (self.slot, tx, outcome)
            for key in dict.fromkeys(str(k) for k in tx.message.account_keys):
                signatures = self.by_address.setdefault(key, [])
                self.position[(key, signature)] = len(signatures)
                signatures.append(signature)
        return signature

    def signatures_for_address(self, params: list) -> Any:
        """Newest first, strictly older than `before` and newer than `until`, at most `limit`.

        An unknown `until` bounds nothing (all history is returned); an unknown `before`
        returns nothing, as there is no place to start from.
        """
        address = str(Pubkey.from_string(params[0]))
        config = params[1] if len(params) > 1 and params[1] else {}
        limit = MAX_SIGNATURES_LIMIT if config.get("limit") is None else int(config["limit"])
        if not 1 <= limit <= MAX_SIGNATURES_LIMIT:
            raise ValueError(f"limit must be 1-{MAX_SIGNATURES_LIMIT}")
        signatures = self.by_address.get(address, [])
        end = len(signatures)
        if config.get("before") is not None:
            end = self.position.get((address, config["before"]), 0)
        start = 0
        if config.get("until") is not None:
            start = self.position.get((address, config["until"]), -1) + 1
        statuses = []
        for signature in reversed(signatures[max(start, end - limit):end]):
            slot, _, outcome = self.executed[signature]
            err = outcome.err() if isinstance(outcome, FailedTransactionMetadata) else None
            statuses.append(RpcConfirmedTransactionStatusWithSignature(
                Signature.from_string(signature), slot, err, None, None, TransactionConfirmationStatus.Finalized))
        return self._result(GetSignaturesForAddressResp(statuses))

    def signature_statuses(self, params: list) -> Any:
        statuses = []
        for sig in params[0]:
            entry = self.executed.get(sig)
            if entry is None:
                statuses.append(None)
                continue
            slot, _, outcome = entry
            err = outcome.err() if isinstance(outcome, FailedTransactionMetadata) else None
            statuses.append(TransactionStatus(slot, None, None, err, TransactionConfirmationStatus.Finalized))
        return self._result(GetSignatureStatusesResp(statuses, self._context()))

    def transaction(self, params: list) -> Any:
        entry = self.executed.get(params[0])
        if entry is None:
            return None
        slot, tx, outcome = entry
        failed = isinstance(outcome, FailedTransactionMetadata)
        meta = outcome.meta() if failed else outcome
        ui_meta = UiTransactionStatusMeta(
            outcome.err() if failed else None, FEE_LAMPORTS, [], [], log_messages=list(meta.logs()),
            compute_units_consumed=meta.compute_units_consumed())
        encoded = EncodedTransactionWithStatusMeta(tx, ui_meta, None)
        return self._result(GetTransactionResp(EncodedConfirmedTransactionWithStatusMeta(slot, encoded, None)))

    def _account(self, address: str) -> Account | None:
        acc = self.svm.get_account(Pubkey.from_string(address))
        return None if acc is None or (acc.lamports == 0 and not acc.data) else acc

    def account_info(self, params: list) -> Any:
        return self._result(GetAccountInfoResp(self._account(params[0]), self._context()))

    def multiple_accounts(self, params: list) -> Any:
        return self._result(GetMultipleAccountsResp([self._account(a) for a in params[0]], self._context()))

    def balance(self, params: list) -> Any:
        return self._result(GetBalanceResp(self.svm.get_balance(Pubkey.from_string(params[0])) or 0, self._context()))

    def airdrop(self, params: list) -> Any:
        outcome = self.svm.airdrop(Pubkey.from_string(params[0]), int(params[1]))
        if isinstance(outcome, FailedTransactionMetadata):
            return str(Signature.default())
        return str(outcome.signature())

    def call(self, request: dict) -> dict:
        rid, method, params = request.get("id"), request.get("method"), request.get("params") or []
        handler = self.methods.get(method)
        if handler is None:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": JSONRPC_METHOD_NOT_FOUND,
                                                           "message": f"Method not found: {method}"}}
        try:
            with self.lock:
                result = handler(params)
        except (ValueError, IndexError, TypeError) as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": JSONRPC_INVALID_PARAMS, "message": str(exc)}}
        return {"jsonrpc": "2.0", "id": rid, "result": result}


def create_app(localnet: Localnet) -> FastAPI:
    app = FastAPI(title="GridTokenX localnet (LiteSVM JSON-RPC)", docs_url=None, redoc_url=None)

    @app.post("/")
    async def rpc(request: Request) -> JSONResponse:
        body = await request.json()
        if isinstance(body, list):
            return JSONResponse([localnet.call(r) for r in body])
        return JSONResponse(localnet.call(body))

    return app


def main(argv: list[str] | None = None) -> int:
    from aggregator.chain.node_server import main as node_main

    return node_main(argv, prog="python -m tools.localnet")


if __name__ == "__main__":
    raise SystemExit(main())
