"""The durable chain node: transactions per second with every transaction's writes
committed to SQLite (WAL, synchronous=FULL) against the same node with its store in
memory, and how long a restart takes to recover a store of that size.

Transactions are SOL transfers built and sent in-process (no HTTP), so the numbers are the
node's own cost: LiteSVM execution plus the journal commit.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from aggregator.chain.connect import deployed_programs
from aggregator.chain.node import Node

TRANSACTIONS = 1_000

UNITS = {
    "node_tx_per_s_durable": "tx/s",
    "node_tx_per_s_memory": "tx/s",
    "node_recovery_s": "s",
    "node_recovered_accounts": "accounts",
}
GOALS = {
    "node_tx_per_s_durable": "one fsync per transaction; well above the minter's batch rate",
    "node_tx_per_s_memory": "upper bound: same code, store in memory",
    "node_recovery_s": f"restart over a store after {TRANSACTIONS} transactions to 1,000 accounts",
}


def _stream(node: Node, n: int) -> float:
    payer = Keypair()
    node.airdrop(payer.pubkey(), 10**15)
    payees = [Keypair().pubkey() for _ in range(1_000)]
    started = time.perf_counter()
    for i in range(n):
        blockhash, _ = node.latest_blockhash()
        tx = Transaction.new_signed_with_payer([transfer(TransferParams(
            from_pubkey=payer.pubkey(), to_pubkey=payees[i % len(payees)], lamports=1_000_000 + i))],
            payer.pubkey(), [payer], blockhash)
        node.send(VersionedTransaction.from_legacy(tx))
    return n / (time.perf_counter() - started)


def run() -> dict[str, float]:
    programs = deployed_programs()
    memory = Node(None, programs)
    in_memory = _stream(memory, TRANSACTIONS)
    memory.close()
    with tempfile.TemporaryDirectory(prefix="gtx-bench-node-") as tmp:
        data_dir = Path(tmp) / "chain"
        durable = Node(data_dir, programs)
        on_disk = _stream(durable, TRANSACTIONS)
        durable.close()
        restarted = Node(data_dir, programs)
        result = {
            "node_tx_per_s_durable": round(on_disk, 1),
            "node_tx_per_s_memory": round(in_memory, 1),
            "node_recovery_s": round(restarted.recovery_s, 4),
            "node_recovered_accounts": restarted.recovered_accounts,
        }
        restarted.close()
    return result
