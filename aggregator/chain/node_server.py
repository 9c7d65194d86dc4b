"""The durable LiteSVM node (:mod:`aggregator.chain.node`) served over Solana JSON-RPC.

``python -m aggregator.chain.node_server --data-dir DIR --port 8899`` (also ``python -m
tools.localnet``) answers HTTP JSON-RPC on ``/`` and WebSocket subscriptions on the same
address (``ws://host:port/``):

* reads: getAccountInfo, getMultipleAccounts, getBalance, getTokenAccountBalance,
  getProgramAccounts (memcmp and dataSize filters), getMinimumBalanceForRentExemption,
  getSlot, getBlockHeight, getVersion, getHealth, getGenesisHash
* transactions: getLatestBlockhash, isBlockhashValid, simulateTransaction,
  sendTransaction (base64 or base58), getSignatureStatuses, getTransaction,
  getSignaturesForAddress, requestAirdrop (unless ``--no-faucet``)
* subscriptions: accountSubscribe, logsSubscribe (``all`` or ``{"mentions": [addr]}``),
  signatureSubscribe, and their unsubscribe methods.

Responses are built with solders' RPC types where solders has them, so they parse as a
cluster's do. Every transaction is final when ``sendTransaction`` answers: it has been
executed and its account writes committed to disk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.responses import GetAccountInfoResp, GetBalanceResp, GetMultipleAccountsResp, RpcResponseContext
from solders.transaction import VersionedTransaction

from aggregator.chain.node import Committed, Node, NodeError

JSONRPC_INVALID_PARAMS = -32602
JSONRPC_METHOD_NOT_FOUND = -32601
JSONRPC_TX_FAILED = -32002  # a cluster's "transaction simulation failed" / refused code
MAX_SIGNATURES_LIMIT = 1_000
MAX_MULTIPLE_ACCOUNTS = 100
TOKEN_ACCOUNT_BYTES = 165
VERSION = {"solana-core": "2.2.0-gridtokenx-node", "feature-set": 0}


B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """Bitcoin-alphabet base58 (what Solana's RPC uses for memcmp bytes and base58 transactions)."""
    n = 0
    for ch in text:
        index = B58_ALPHABET.find(ch)
        if index < 0:
            raise ValueError(f"invalid base58 character {ch!r}")
        n = n * 58 + index
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def _config(params: list, index: int) -> dict[str, Any]:
    value = params[index] if len(params) > index else None
    return value if isinstance(value, dict) else {}


def _pubkey(text: Any) -> Pubkey:
    try:
        return Pubkey.from_string(str(text))
    except ValueError as exc:
        raise NodeError(f"Invalid param: {text!r} is not a base58 public key") from exc


def _decode_tx(params: list) -> VersionedTransaction:
    encoding = _config(params, 1).get("encoding", "base58")
    try:
        raw = base64.b64decode(params[0]) if encoding == "base64" else b58decode(params[0])
        return VersionedTransaction.from_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise NodeError(f"cannot decode the transaction: {exc}") from exc


class NodeRpc:
    """The JSON-RPC methods over one :class:`Node`; calls run one at a time on the event loop."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.methods: dict[str, Callable[[list], Any]] = {
            "getHealth": lambda p: "ok",
            "getVersion": lambda p: VERSION,
            "getGenesisHash": lambda p: str(Hash(bytes.fromhex(node.seed))),
            "getSlot": lambda p: node.slot,
            "getBlockHeight": lambda p: node.slot,
            "getLatestBlockhash": self.latest_blockhash,
            "isBlockhashValid": self.blockhash_valid,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
            "getSignatureStatuses": self.signature_statuses,
            "getTransaction": lambda p: node.transaction_record(str(p[0])),
            "getSignaturesForAddress": self.signatures_for_address,
            "getAccountInfo": self.account_info,
            "getMultipleAccounts": self.multiple_accounts,
            "getBalance": self.balance,
            "getTokenAccountBalance": self.token_balance,
            "getProgramAccounts": self.program_accounts,
            "requestAirdrop": lambda p: node.airdrop(_pubkey(p[0]), int(p[1])),
            "getMinimumBalanceForRentExemption": lambda p: node.svm.minimum_balance_for_rent_exemption(int(p[0])),
        }

    def _context(self) -> dict[str, Any]:
        return {"slot": self.node.slot, "apiVersion": VERSION["solana-core"]}

    def _wrap(self, value: Any) -> dict[str, Any]:
        return {"context": self._context(), "value": value}

    @staticmethod
    def account_json(account: Account | None) -> Any:
        return json.loads(GetAccountInfoResp(account, RpcResponseContext(0)).to_json())["result"]["value"]

    def latest_blockhash(self, params: list) -> Any:
        blockhash, last_valid = self.node.latest_blockhash()
        return self._wrap({"blockhash": str(blockhash), "lastValidBlockHeight": last_valid})

    def blockhash_valid(self, params: list) -> Any:
        try:
            blockhash = Hash.from_string(str(params[0]))
        except ValueError as exc:
            raise NodeError(f"Invalid param: {exc}") from exc
        return self._wrap(self.node.blockhash_valid(blockhash))

    def send_transaction(self, params: list) -> Any:
        return self.node.send(_decode_tx(params))

    def simulate_transaction(self, params: list) -> Any:
        tx = _decode_tx(params)
        return self._wrap(self.node.simulate(tx))

    def signature_statuses(self, params: list) -> Any:
        values = []
        for signature in params[0]:
            status = self.node.status(str(signature))
            values.append(None if status is None else {
                "slot": status[0], "confirmations": None, "err": status[1],
                "status": {"Ok": None} if status[1] is None else {"Err": status[1]},
                "confirmationStatus": "finalized"})
        return self._wrap(values)

    def signatures_for_address(self, params: list) -> Any:
        address = str(_pubkey(params[0]))
        config = _config(params, 1)
        limit = MAX_SIGNATURES_LIMIT if config.get("limit") is None else int(config["limit"])
        if not 1 <= limit <= MAX_SIGNATURES_LIMIT:
            raise NodeError(f"limit must be 1-{MAX_SIGNATURES_LIMIT}")
        found = self.node.signatures_for_address(address, before=config.get("before"), until=config.get("until"),
                                                 limit=limit)
        return [{"signature": s, "slot": slot, "err": err, "memo": None, "blockTime": None,
                 "confirmationStatus": "finalized"} for s, slot, err in found]

    def account_info(self, params: list) -> Any:
        return json.loads(GetAccountInfoResp(self.node.account(_pubkey(params[0])),
                                             RpcResponseContext(self.node.slot)).to_json())["result"]

    def multiple_accounts(self, params: list) -> Any:
        if len(params[0]) > MAX_MULTIPLE_ACCOUNTS:
            raise NodeError(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        accounts = [self.node.account(_pubkey(a)) for a in params[0]]
        return json.loads(GetMultipleAccountsResp(accounts, RpcResponseContext(self.node.slot)).to_json())["result"]

    def balance(self, params: list) -> Any:
        return json.loads(GetBalanceResp(self.node.svm.get_balance(_pubkey(params[0])) or 0,
                                         RpcResponseContext(self.node.slot)).to_json())["result"]

    def token_balance(self, params: list) -> Any:
        account = self.node.account(_pubkey(params[0]))
        if account is None or len(account.data) != TOKEN_ACCOUNT_BYTES:
            raise NodeError("Invalid param: not a Token account")
        data = bytes(account.data)
        mint = self.node.account(Pubkey.from_bytes(data[:32]))
        if mint is None:
            raise NodeError("Invalid param: the token account's mint does not exist")
        amount = struct.unpack_from("<Q", data, 64)[0]
        decimals = bytes(mint.data)[44]
        ui = amount / 10**decimals
        text = f"{amount // 10**decimals}.{amount % 10**decimals:0{decimals}d}".rstrip("0").rstrip(".") \
            if decimals else str(amount)
        return self._wrap({"amount": str(amount), "decimals": decimals, "uiAmount": ui, "uiAmountString": text})

    def program_accounts(self, params: list) -> Any:
        owner = _pubkey(params[0])
        config = _config(params, 1)
        checks: list[Callable[[bytes], bool]] = []
        for f in config.get("filters") or []:
            if "dataSize" in f:
                size = int(f["dataSize"])
                checks.append(_size_is(size))
            elif "memcmp" in f:
                m = f["memcmp"]
                want = base64.b64decode(m["bytes"]) if m.get("encoding") == "base64" else b58decode(m["bytes"])
                off = int(m.get("offset", 0))
                checks.append(_bytes_at(off, want))
            else:
                raise NodeError(f"Invalid param: unsupported filter {f!r}")
        found = [{"pubkey": address, "account": self.account_json(account)}
                 for address, account in self.node.program_accounts(owner)
                 if all(check(bytes(account.data)) for check in checks)]
        return self._wrap(found) if config.get("withContext") else found

    def call(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid request"}}
        rid, method, params = request.get("id"), request.get("method"), request.get("params") or []
        handler = self.methods.get(str(method))
        if handler is None:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": JSONRPC_METHOD_NOT_FOUND,
                                                           "message": f"Method not found: {method}"}}
        try:
            result = handler(params)
        except NodeError as exc:
            code = JSONRPC_TX_FAILED if method == "sendTransaction" else JSONRPC_INVALID_PARAMS
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": str(exc)}}
        except (ValueError, IndexError, TypeError, KeyError) as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": JSONRPC_INVALID_PARAMS, "message": str(exc)}}
        return {"jsonrpc": "2.0", "id": rid, "result": result}


class Subscriptions:
    """WebSocket subscriptions, fed by the node's commits."""

    def __init__(self, rpc: NodeRpc) -> None:
        self.rpc = rpc
        self.ids = itertools.count(1)
        # id -> (socket, kind, argument)
        self.subs: dict[int, tuple[WebSocket, str, Any]] = {}
        self.queue: asyncio.Queue[Committed] = asyncio.Queue()
        rpc.node.listeners.append(self.queue.put_nowait)

    def subscribe(self, ws: WebSocket, method: str, params: list) -> Any:
        sub: tuple[str, Any]
        if method == "accountSubscribe":
            sub = ("account", str(_pubkey(params[0])))
        elif method == "logsSubscribe":
            which = params[0] if params else "all"
            if isinstance(which, dict):
                sub = ("logs", frozenset(str(_pubkey(a)) for a in which.get("mentions", [])))
            elif which in ("all", "allWithVotes"):
                sub = ("logs", None)
            else:
                raise NodeError(f"Invalid param: {which!r}")
        elif method == "signatureSubscribe":
            sub = ("signature", str(params[0]))
        else:
            raise NodeError(f"Method not found: {method}")
        sid = next(self.ids)
        self.subs[sid] = (ws, *sub)
        if sub[0] == "signature":  # already final: tell at once
            status = self.rpc.node.status(str(sub[1]))
            if status is not None:
                self.subs.pop(sid)
                asyncio.get_running_loop().create_task(self._send(ws, "signatureNotification", sid, status[0],
                                                                  {"err": status[1]}))
        return sid

    def unsubscribe(self, params: list) -> bool:
        return self.subs.pop(int(params[0]), None) is not None

    def drop(self, ws: WebSocket) -> None:
        for sid in [s for s, (w, *_) in self.subs.items() if w is ws]:
            self.subs.pop(sid, None)

    async def _send(self, ws: WebSocket, method: str, sid: int, slot: int, value: Any) -> None:
        with contextlib.suppress(Exception):  # a socket that went away is dropped by its reader
            await ws.send_text(json.dumps({"jsonrpc": "2.0", "method": method, "params": {
                "result": {"context": {"slot": slot}, "value": value}, "subscription": sid}}))

    async def dispatch(self) -> None:
        while True:
            event = await self.queue.get()
            for sid, (ws, kind, arg) in list(self.subs.items()):
                if kind == "account" and arg in event.accounts:
                    await self._send(ws, "accountNotification", sid, event.slot,
                                     self.rpc.account_json(event.accounts[arg]))
                elif kind == "logs" and (arg is None or arg & event.mentions):
                    await self._send(ws, "logsNotification", sid, event.slot,
                                     {"signature": event.signature, "err": event.err, "logs": event.logs})
                elif kind == "signature" and arg == event.signature:
                    self.subs.pop(sid, None)
                    await self._send(ws, "signatureNotification", sid, event.slot, {"err": event.err})


def create_app(node: Node) -> FastAPI:
    rpc = NodeRpc(node)
    subs: dict[str, Subscriptions] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        subs["s"] = Subscriptions(rpc)
        task = asyncio.create_task(subs["s"].dispatch())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="GridTokenX node (durable LiteSVM, Solana JSON-RPC)", docs_url=None, redoc_url=None,
                  lifespan=lifespan)

    @app.post("/")
    async def http_rpc(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        if isinstance(body, list):
            return JSONResponse([rpc.call(r) for r in body])
        return JSONResponse(rpc.call(body))

    @app.websocket("/")
    async def ws_rpc(ws: WebSocket) -> None:
        await ws.accept()
        s = subs["s"]
        try:
            while True:
                try:
                    request = json.loads(await ws.receive_text())
                except ValueError:
                    await ws.send_text(json.dumps({"jsonrpc": "2.0", "id": None,
                                                   "error": {"code": -32700, "message": "Parse error"}}))
                    continue
                rid, method, params = request.get("id"), request.get("method", ""), request.get("params") or []
                try:
                    if method.endswith("Unsubscribe"):
                        result: Any = s.unsubscribe(params)
                    elif method.endswith("Subscribe"):
                        result = s.subscribe(ws, method, params)
                    else:
                        await ws.send_text(json.dumps(rpc.call(request)))
                        continue
                    reply = {"jsonrpc": "2.0", "id": rid, "result": result}
                except (NodeError, ValueError, IndexError, TypeError) as exc:
                    reply = {"jsonrpc": "2.0", "id": rid, "error": {"code": JSONRPC_INVALID_PARAMS,
                                                                    "message": str(exc)}}
                await ws.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            s.drop(ws)

    return app


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8899)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where the chain's state is kept (SQLite); without it, state lives in memory")
    p.add_argument("--upgrade-authority", default=None,
                   help="base58 key written as the programs' upgrade authority when first deployed "
                   "(default: the committed development deployer, programs/keys/deployer-keypair.json)")
    p.add_argument("--no-faucet", action="store_true", help="refuse requestAirdrop")
    return p



def _size_is(size: int) -> Callable[[bytes], bool]:
    """A getProgramAccounts ``dataSize`` filter."""
    return lambda data: len(data) == size


def _bytes_at(offset: int, want: bytes) -> Callable[[bytes], bool]:
    """A getProgramAccounts ``memcmp`` filter."""
    return lambda data: data[offset:offset + len(want)] == want


def main(argv: list[str] | None = None, prog: str = "python -m aggregator.chain.node_server") -> int:
    from aggregator.chain.connect import deployed_programs
    from aggregator.chain.programs import localnet_deployer

    args = _parser(prog).parse_args(argv)
    authority = Pubkey.from_string(args.upgrade_authority) if args.upgrade_authority \
        else localnet_deployer().pubkey()
    try:
        node = Node(args.data_dir, deployed_programs(), upgrade_authority=authority, faucet=not args.no_faucet)
    except NodeError as exc:
        print(f"node: {exc}", file=sys.stderr)
        return 2
    where = args.data_dir or "memory"
    print(f"node: {node.recovered_accounts} accounts recovered from {where} in {node.recovery_s:.3f} s, "
          f"slot {node.slot}; programs {', '.join(p.name for p in node.programs.values())}; "
          f"http://{args.host}:{args.port} ws://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(create_app(node), host=args.host, port=args.port, log_level="warning", ws="websockets-sansio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
