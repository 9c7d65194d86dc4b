"""Two traders, each in their own processes, using only the ``gtx_trader`` CLI and a
Solana CLI keypair file against the aggregator on a real socket: they register, the
prosumer offers GRID minted from its meter's signed readings, the consumer buys now, both
see their balances, fills and statements change, and the market's live channel (a third
process, ``watch``) delivers the fills."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from solders.keypair import Keypair

from gtx_trader.client import TraderClient, save_keypair, signing_message
from tests.aggregator.agg_helpers import Actors
from tests.aggregator.agg_served import served_floor
from tests.aggregator.agg_trading_helpers import PAYMENT_UNITS
from tests.aggregator.test_agg_minter import register_on_chain, submit, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Trader:
    """One person: a keypair file and the CLI, run as a child process per command."""

    def __init__(self, url: str, keyfile: Path) -> None:
        self.url, self.keyfile = url, keyfile

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gtx_trader", "--url", self.url, "--keypair", str(self.keyfile), *args]

    async def run(self, *args: str, ok: bool = True) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*self.argv(*args), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        if ok:
            assert proc.returncode == 0, (args, out.decode(), err.decode())
        return proc.returncode or 0, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        _, out, _ = await self.run("--json", *args)
        return json.loads(out)


async def test_two_traders_trade_through_the_cli_only(pg_dsn: str, tmp_path: Path) -> None:
    async with served_floor(pg_dsn) as (floor, url):
        pro_kp, con_kp = Keypair(), Keypair()
        save_keypair(pro_kp, tmp_path / "prosumer.json")
        save_keypair(con_kp, tmp_path / "consumer.json")
        prosumer, consumer = Trader(url, tmp_path / "prosumer.json"), Trader(url, tmp_path / "consumer.json")

        assert (await prosumer.json("register", "--role", "prosumer", "--name", "Ploy"))["role"] == "prosumer"
        assert (await consumer.json("register", "--role", "consumer"))["wallet"] == str(con_kp.pubkey())
        code, _, err = await consumer.run("register", "--role", "consumer", ok=False)
        assert code == 1 and "user_exists" in err

        # The grid side: the prosumer's meter is installed and its signed readings minted;
        # the consumer holds SOL for fees and the market's payment token.
        meter = await Actors(floor.http).meter(pro_kp, "MTR-cli-pro")
        register_on_chain(floor.chain, pro_kp, meter)
        await submit(floor.http, [meter.next(imp_delta=0, exp_delta=1000) for _ in range(4)])
        await wait_for(lambda: _minted(floor, pro_kp, 3_000))
        await wait_for(lambda: _mint_recorded(prosumer, 3_000))
        floor.chain.local.fund(con_kp.pubkey())
        floor.fund_payment(con_kp, PAYMENT_UNITS)

        before = await prosumer.json("balance")
        assert before["grid"]["free_wh"] == 3_000 and before["production"]["minted_wh"] == 3_000
        _, table, _ = await prosumer.run("balance")
        assert "GRID (kWh)" in table and "3.000" in table

        # The prosumer offers 2 kWh at 0.10 per kWh; a watcher follows the market live.
        watcher = await asyncio.create_subprocess_exec(
            *consumer.argv("--json", "watch", "--trades", "--count", "2", "--timeout", "60"), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        offer = await prosumer.json("sell", "2", "--price", "0.10")
        assert offer["instructions"] == ["place_order"] and offer["order_address"]
        await wait_for(lambda: _on_book(floor))
        _, book, _ = await consumer.run("book")
        assert "0.100000" in book and "2.000" in book

        # The consumer buys 1.5 kWh now, then 1 kWh more with a 0.09 cap (nothing that cheap).
        taken = await consumer.json("buy", "1.5", "--now")
        assert taken["instructions"][-3:] == ["place_order", "settle_fills", "expire_order"]
        assert (taken["planned_wh"], taken["fills"]) == (1_500, 1)
        code, _, err = await consumer.run("buy", "1", "--now", "--max-price", "0.09", ok=False)
        assert code == 1 and "nothing_to_take" in err
        code, _, err = await consumer.run("buy", "1.0001", "--now", ok=False)
        assert code == 1 and "bad_number" in err

        # The rest of the offer: the consumer takes 0.5 kWh of that order by address.
        rest = await consumer.json("buy", "1", "--now", "--order", offer["order_address"])
        assert (rest["planned_wh"], rest["fills"]) == (500, 1) and rest["instructions"][-1] == "cancel_order"

        out, err = await asyncio.wait_for(watcher.communicate(), 60)
        assert watcher.returncode == 0, err.decode()
        fills = [json.loads(line) for line in out.decode().splitlines()]
        assert [(f["type"], f["energy_wh"], f["price_per_kwh_micro"]) for f in fills] == \
            [("trade", 1_500, 100_000), ("trade", 500, 100_000)]
        assert {f["seller_wallet"] for f in fills} == {str(pro_kp.pubkey())}

        value = 200_000  # 2 kWh at 0.10
        fee = -(-150_000 * 25 // 10_000) + -(-50_000 * 25 // 10_000)  # 0.25 % of each fill, rounded up
        await wait_for(lambda: _statement_has(prosumer, 2))
        pro = await prosumer.json("balance")
        assert pro["grid"] == {"free_wh": 1_000, "in_orders_wh": 0, "in_market_balances_wh": 0, "total_wh": 1_000}
        assert pro["payment"][0]["free_micro"] == value - fee and pro["open_orders"] == 0
        con = await consumer.json("balance")
        assert con["grid"]["free_wh"] == 2_000 and con["payment"][0]["free_micro"] == PAYMENT_UNITS - value

        pro_trades = await prosumer.json("trades")
        assert sorted(t["energy_wh"] for t in pro_trades) == [500, 1_500]
        assert [(o["status"], o["filled_wh"]) for o in await prosumer.json("orders")] == [("filled", 2_000)]
        st = await prosumer.json("statement")
        assert (st["totals"]["sold_wh"], st["totals"]["revenue_micro"], st["totals"]["fees_micro"],
                st["totals"]["minted_wh"]) == (2_000, value, fee, 3_000)
        cst = await consumer.json("statement", "--period", "month")
        assert (cst["totals"]["bought_wh"], cst["totals"]["spent_micro"], cst["totals"]["net_micro"]) == \
            (2_000, value, -value)
        _, csv_text, _ = await consumer.run("statement", "--csv")
        assert csv_text.splitlines()[0].startswith("period,minted_wh,sold_wh,bought_wh")
        _, hist, _ = await prosumer.run("history")
        assert "sold 1500 Wh at 100000 per kWh" in hist and "minted 3000 Wh from meter MTR-cli-pro" in hist
        assert (await consumer.json("certificates", "list")) == []


async def _minted(floor: Any, wallet: Keypair, wh: int) -> bool:
    return floor.grid(wallet) == wh


async def _mint_recorded(trader: Trader, wh: int) -> bool:
    return (await trader.json("balance"))["production"]["minted_wh"] == wh


async def _on_book(floor: Any) -> bool:
    return bool((await floor.book())["asks"])


async def _statement_has(trader: Trader, trades: int) -> bool:
    return (await trader.json("statement"))["totals"]["trades"] == trades


def test_the_trader_package_imports_nothing_of_the_service() -> None:
    import subprocess

    probe = ("import sys, gtx_trader.cli, gtx_trader.client; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'aggregator', 'common', 'tools', 'devservers', "
             "'demo', 'bench', 'tests'}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_client_asks_for_a_read_token_once_and_renews_it_when_refused() -> None:
    kp = Keypair()
    wallet = str(kp.pubkey())
    seen: list[tuple[str, str | None]] = []
    issued: list[str] = []
    refuse = {"t0": False}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path == "/api/auth/challenge":
            assert json.loads(request.content) == {"wallet": wallet, "purpose": "read_token"}
            return httpx.Response(201, json={"nonce": f"n{len(issued)}"})
        if request.url.path == "/api/auth/token":
            body = json.loads(request.content)
            message = signing_message("read_token", wallet, body["nonce"], {})
            assert str(kp.sign_message(message)) == body["signature"]
            issued.append(f"t{len(issued)}")
            return httpx.Response(201, json={"token": issued[-1], "token_type": "bearer", "wallet": wallet,
                                             "role": "owner", "expires_at": 4_000_000_000})
        if refuse.get(request.headers.get("authorization", "")[7:]):
            return httpx.Response(401, json={"error": {"reason": "token_expired", "message": "expired"}})
        assert request.headers.get("authorization", "").startswith("Bearer t")
        return httpx.Response(200, json={"rows": []})

    with TraderClient("http://agg", kp, market="M", transport=httpx.MockTransport(handler)) as client:
        client.statement()
        client.history()
        client.balances()  # one token for all three
        assert [p for p, _ in seen].count("/api/auth/token") == 1
        refuse["t0"] = True
        client.statement()  # the service refuses the kept token: a new one, and the read again
    assert issued == ["t0", "t1"]
    assert seen[-1] == ("/api/wallets/" + wallet + "/statement", "Bearer t1")
