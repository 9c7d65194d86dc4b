"""A wallet's balances (read from the chain), history and earnings statement through the API."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Any

from solders.keypair import Keypair

from aggregator.trading import client as trading_client
from tests.aggregator.agg_trading_helpers import PAYMENT_UNITS, Floor, floor  # noqa: F401  (fixture)
from tests.aggregator.test_agg_actions import act
from tests.aggregator.test_agg_minter import wait_for


async def get(floor: Floor, wallet: Keypair, what: str, **params: Any) -> Any:
    resp = await floor.http.get(f"/api/wallets/{wallet.pubkey()}/{what}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json() if resp.headers["content-type"].startswith("application/json") else resp.text


async def test_balances_history_and_statement_follow_a_trade(floor: Floor) -> None:
    seller = await floor.prosumer("pf-seller", 3_000)
    buyer = floor.consumer()
    # The GRID is on chain; the minter records its batch as confirmed right after.
    await wait_for(lambda: _minted_recorded(floor, seller, 3_000))
    b = await get(floor, seller, "balances")
    assert b["grid"] == {"free_wh": 3_000, "in_orders_wh": 0, "in_market_balances_wh": 0, "total_wh": 3_000}
    assert b["production"]["minted_wh"] == 3_000 and b["production"]["meters"] == 1

    ask = await floor.place(seller, "sell", 100_000, 2_000)
    await act(floor, buyer, "buy-now", energy_wh=1_500)
    await wait_for(lambda: _kinds(floor, seller, {"mint", "fill", "fee"}))
    value, fee = 150_000, -(-150_000 * 25 // 10_000)

    s = await get(floor, seller, "balances")
    assert s["grid"] == {"free_wh": 1_000, "in_orders_wh": 500, "in_market_balances_wh": 0, "total_wh": 1_500}
    (pay,) = s["payment"]
    assert pay["free_micro"] == value - fee and pay["mint"] == str(floor.payment_mint) and s["open_orders"] == 1
    c = await get(floor, buyer, "balances")
    assert c["grid"]["free_wh"] == 1_500 and c["payment"][0]["free_micro"] == PAYMENT_UNITS - value
    assert c["production"]["minted_wh"] == 0

    # Cancelling the rest of the ask gives its escrow back: a refund in the history.
    resp = await trading_client.cancel_order(floor.http, seller, floor.market, ask, "sell")
    assert resp.status_code == 201, resp.text
    await wait_for(lambda: _kinds(floor, seller, {"refund"}))
    history = await get(floor, seller, "history")
    by_kind = {h["kind"]: h for h in history}
    assert by_kind["fill"]["energy_wh"] == -1_500 and by_kind["fill"]["payment_micro"] == value
    assert by_kind["fill"]["detail"]["counterparty"] == str(buyer.pubkey())
    assert by_kind["fee"]["payment_micro"] == -fee
    assert by_kind["refund"]["energy_wh"] == 500 and "cancelled" in by_kind["refund"]["description"]
    assert by_kind["mint"]["energy_wh"] == 3_000
    assert [h["kind"] for h in await get(floor, seller, "history", kind="fill")] == ["fill"]
    assert (await get(floor, seller, "balances"))["grid"]["free_wh"] == 1_500

    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    st = await get(floor, seller, "statement", period="day")
    (row,) = st["rows"]
    assert row["period"] == today
    assert (row["minted_wh"], row["sold_wh"], row["revenue_micro"], row["fees_micro"], row["net_micro"]) == \
        (3_000, 1_500, value, fee, value - fee)
    assert st["totals"]["net_micro"] == value - fee
    bst = await get(floor, buyer, "statement", period="month")
    assert bst["rows"][0]["period"] == today[:7] and bst["totals"]["spent_micro"] == value
    assert bst["totals"]["net_micro"] == -value and bst["totals"]["bought_wh"] == 1_500

    text = await get(floor, seller, "statement", period="month", format="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["period"] for r in rows] == [today[:7], "total"]
    assert int(rows[0]["revenue_micro"]) == value and int(rows[1]["fees_micro"]) == fee


async def _minted_recorded(floor: Floor, wallet: Keypair, wh: int) -> bool:
    return (await get(floor, wallet, "balances"))["production"]["minted_wh"] == wh


async def _kinds(floor: Floor, wallet: Keypair, kinds: set[str]) -> bool:
    return kinds <= {h["kind"] for h in await get(floor, wallet, "history")}


async def test_a_bad_wallet_is_a_reasoned_refusal(floor: Floor) -> None:
    resp = await floor.http.get("/api/wallets/not-base58-0OIl/balances")
    assert resp.status_code == 422 and resp.json()["error"]["reason"] == "invalid_address"
    empty = await get(floor, Keypair(), "statement")
    assert empty["rows"] == [] and empty["totals"]["net_micro"] == 0
