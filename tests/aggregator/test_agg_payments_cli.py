"""The THB rail from outside: the aggregator as a process on its in-process chain, bank
files imported with ``python -m aggregator payments import`` (another process, the same
database), wallets over HTTP on a real socket, the payout file written by
``python -m aggregator payments payout-file``."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from solders.keypair import Keypair

from aggregator.payments.bankfiles import camt054
from devservers import AggregatorProcess
from tests.aggregator.agg_payments_helpers import (
    OPERATOR_TOKEN,
    RESERVE_ACCOUNT,
    Bank,
    assert_pain001_valid,
    reference,
    reserve,
    withdraw,
)
from tools import wallet

ROOT = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    out = subprocess.run([sys.executable, "-m", "aggregator", "payments", *args], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True,
                         timeout=120)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out.returncode, lines


async def eventually(http: httpx.AsyncClient, path: str, check: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await http.get(path)).json()
        if check(body):
            return body  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def test_camt_files_through_the_cli_mint_and_a_withdrawal_becomes_a_pain001(pg_dsn: str,
                                                                                    tmp_path: Path) -> None:
    env = {"GTX_DATABASE_URL": pg_dsn, "GTX_THB_RESERVE_ACCOUNT": RESERVE_ACCOUNT, "GTX_LOG_LEVEL": "WARNING",
           "GTX_THB_OPERATOR_TOKEN": OPERATOR_TOKEN}
    # The in-process chain (serve's default is the durable embedded node, where the rail
    # needs a configured mint): the rail makes its own development mint on it.
    server = AggregatorProcess({**env, "GTX_CHAIN_BACKEND": "litesvm", "GTX_THB_DATA_DIR": str(tmp_path / "thb"),
                                "GTX_THB_SWEEP_S": "0.1",
                                "GTX_LOG_LEVEL": "INFO"})
    try:
        await server.ready_async(60)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            consumer = Keypair()  # holds no SOL: the rail pays the fees
            assert (await wallet.register_user(http, consumer, "consumer")).status_code == 201
            await wallet.authorize(http, consumer)  # a payout's status is the wallet's to read
            ref = await reference(http, consumer)
            balance_path = f"/api/payments/balance/{consumer.pubkey()}"
            bank = Bank()

            # A camt.054 notification of the deposit, then the day's camt.053 with the same entry.
            entry = bank.entry(123_456, remittance=f"Top-up {ref}")
            notification = tmp_path / "ntfctn.xml"
            notification.write_bytes(camt054(RESERVE_ACCOUNT, "NTF-1", [entry]))
            code, (result,) = cli(env, "import", str(notification))
            assert code == 0 and result["matched"] == 1, result
            await eventually(http, balance_path, lambda b: b["satang"] == 123_456)
            statement = tmp_path / "stmt-1.xml"
            statement.write_bytes(bank.statement([entry, bank.entry(5_000, remittance="no reference")]))
            code, (result,) = cli(env, "import", str(statement))
            assert code == 0 and result["new_entries"] == 1 and result["held"] == 1, result  # the deposit, once
            code, (result,) = cli(env, "import", str(statement))
            assert code == 0 and result["duplicate"] is True and result["new_entries"] == 0, result
            broken = tmp_path / "broken.xml"
            broken.write_bytes(statement.read_bytes().replace(b"1234.56", b"1234.57", 1))
            code, (result,) = cli(env, "import", str(broken))
            assert code == 1 and result["error"] in ("statement_conflict", "balances_do_not_add_up"), result
            now = await reserve(http)
            assert now["bank_balance"] == 128_456 and now["supply"] == 123_456 and now["held"] == 5_000, now
            assert now["difference"] == 0 and now["flagged"] is False, now
            assert (await http.get(balance_path)).json()["satang"] == 123_456

            # Withdraw 1,000.00 THB; the payout file comes from the CLI and validates.
            payout = await withdraw(http, consumer, 100_000)
            assert payout["status"] == "burned"
            assert (await http.get(balance_path)).json()["satang"] == 23_456
            pain = tmp_path / "pain001.xml"
            code, (produced,) = cli(env, "payout-file", "--out", str(pain))
            assert code == 0 and produced["payouts"] == 1 and produced["total_satang"] == 100_000, produced
            assert_pain001_valid(pain.read_bytes())
            assert f"<EndToEndId>GTXP-{payout['id']}</EndToEndId>".encode() in pain.read_bytes()
            now = await reserve(http)
            assert now["difference"] == 0 and now["supply"] == 23_456 and now["payouts_open"] == 100_000, now

            # The bank pays it; its statement confirms the payout and the reserve still balances.
            statement2 = tmp_path / "stmt-2.xml"
            statement2.write_bytes(bank.statement([bank.entry(100_000, direction="DBIT",
                                                              end_to_end_id=f"GTXP-{payout['id']}")]))
            code, (result,) = cli(env, "import", str(statement2))
            assert code == 0 and result["payouts_confirmed"] == 1, result
            payout = (await http.get(f"/api/payments/withdrawals/{payout['id']}")).json()
            assert payout["status"] == "confirmed"
            now = await reserve(http)
            assert now["bank_balance"] == 28_456 and now["difference"] == 0 and not now["flagged"], now
            # The per-day attestation picks up the CLI's import on the rail's next sweep.
            days = await eventually(http, "/api/payments/reserve",
                                    lambda r: r["days"] and r["days"][0]["bank_balance"] == 28_456)
            assert days["days"][0]["supply"] == 23_456 and days["days"][0]["flagged"] is False, days
    finally:
        code, stderr = server.stop_and_read_stderr(20)
    assert code == 0, stderr
    key = tmp_path / "thb" / "thb-mint-authority.json"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "THB mint authority generated for the in-process development chain" in stderr
