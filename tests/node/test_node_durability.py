"""The durable node from outside: a subprocess served over JSON-RPC, killed with SIGKILL
at random moments while a client streams transfers; after each restart every transaction
the client saw confirmed is there, and none is applied twice."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import threading
import time

import httpx
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from devservers import free_tcp_port
from devservers.processes import NodeProcess


CLIENT: list[httpx.Client] = []


def rpc(url: str, method: str, params: list | None = None) -> dict:
    return CLIENT[0].post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).json()


def transfer_tx(url: str, payer: Keypair, to: Pubkey, lamports: int) -> Transaction:
    blockhash = rpc(url, "getLatestBlockhash")["result"]["value"]["blockhash"]
    from solders.hash import Hash
    return Transaction.new_signed_with_payer([transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to,
                                                                      lamports=lamports))],
                                             payer.pubkey(), [payer], Hash.from_string(blockhash))


def test_kill_nine_loses_no_confirmed_transaction_and_applies_none_twice(tmp_path):
    data_dir = tmp_path / "chain"
    port = free_tcp_port()
    nodes = [NodeProcess(data_dir, port=port)]
    CLIENT.append(httpx.Client(timeout=10))
    try:
        _stream_and_kill(nodes, data_dir, port)
    finally:
        for node in nodes:
            node.stop()
        CLIENT.pop().close()


def _stream_and_kill(nodes: list[NodeProcess], data_dir, port: int) -> None:
    node = nodes[0]
    node.ready()
    url = node.url
    payer, payee = Keypair(), Keypair()
    assert "result" in rpc(url, "requestAirdrop", [str(payer.pubkey()), 10**12])
    rng = random.Random(7)
    confirmed: dict[str, int] = {}  # signature -> lamports, answered by sendTransaction
    sent: dict[str, tuple[bytes, int]] = {}  # every transaction sent, answered or not
    amount = 1_000_000
    for round_ in range(5):
        stop = threading.Event()

        def killer() -> None:
            time.sleep(rng.uniform(0.3, 1.5))
            node.proc.send_signal(signal.SIGKILL)
            stop.set()

        threading.Thread(target=killer, daemon=True).start()
        while not stop.is_set():
            amount += 1
            try:
                tx = transfer_tx(url, payer, payee.pubkey(), amount)
            except httpx.TransportError:
                break
            raw = bytes(tx)
            sent[str(tx.signatures[0])] = (raw, amount)
            try:
                reply = rpc(url, "sendTransaction", [base64.b64encode(raw).decode(), {"encoding": "base64"}])
            except httpx.TransportError:
                break
            assert reply["result"] == str(tx.signatures[0]), reply
            confirmed[reply["result"]] = amount
        node.proc.wait(10)
        node = NodeProcess(data_dir, port=port)
        nodes.append(node)
        node.ready()
        # every confirmed transaction is known after the restart
        sigs = list(confirmed)
        for i in range(0, len(sigs), 200):
            statuses = rpc(url, "getSignatureStatuses", [sigs[i:i + 200]])["result"]["value"]
            assert all(s is not None and s["err"] is None for s in statuses)
        # the payee holds exactly the transfers the node says landed (each once)
        landed = [s for s in sent if rpc(url, "getSignatureStatuses", [[s]])["result"]["value"][0] is not None]
        assert set(confirmed) <= set(landed)
        balance = rpc(url, "getBalance", [str(payee.pubkey())])["result"]["value"]
        assert balance == sum(sent[s][1] for s in landed)
        # resending landed transactions after the restart applies none of them twice
        for signature in landed[-20:]:
            reply = rpc(url, "sendTransaction", [base64.b64encode(sent[signature][0]).decode(),
                                                 {"encoding": "base64"}])
            assert reply["result"] == signature
        assert rpc(url, "getBalance", [str(payee.pubkey())])["result"]["value"] == balance
        sent = {s: sent[s] for s in landed}  # unanswered ones that never landed are dropped
    assert len(confirmed) > 20
