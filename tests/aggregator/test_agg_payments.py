"""The THB rail through its HTTP API on the in-process chain: a camt.053 deposit mints
THB once, THB pays in a THB market, a withdrawal burns and produces a pain.001 file that
a later debit entry confirms, and the reserve equals the supply at every step."""

from __future__ import annotations

import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from solders.keypair import Keypair
from solders.transaction import Transaction

from aggregator.app import create_app
from aggregator.chain import token_amount
from aggregator.chain.connect import local_chain
from aggregator.config import ThbSettings
from aggregator.payments.rail import BankFileRail
from aggregator.services import services_of
from aggregator.trading import client as trading_client
from aggregator.trading import local_desk
from tests.aggregator.agg_helpers import Actors, make_settings, running
from tests.aggregator.agg_payments_helpers import (
    OPERATOR,
    OPERATOR_TOKEN,
    RESERVE_ACCOUNT,
    Bank,
    assert_pain001_valid,
    import_statement,
    reference,
    reserve,
    sign_burn,
    withdraw,
)
from tests.aggregator.test_agg_minter import wait_for
from tools import wallet


def thb_settings(tmp: Path, **over: object) -> ThbSettings:
    values: dict[str, object] = {"data_dir": tmp, "operator_token": OPERATOR_TOKEN,
                                 "reserve_account": RESERVE_ACCOUNT, "sweep_s": 0.05,
                                 "open_market": True, **over}
    return ThbSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def rail_app(dsn: str, tmp: Path, **over: object) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = make_settings(dsn, chain="litesvm")
    settings.thb = thb_settings(tmp, **over)
    settings.indexer_poll_s = 0.02
    chain = local_chain()
    app = create_app(settings, chain_handle=chain, trading_desk=local_desk(chain))
    async with running(app) as served:
        yield served


def rail_of(app: FastAPI) -> BankFileRail:
    rail = services_of(app).rail
    assert rail is not None
    return rail


async def thb_balance(app: FastAPI, wallet: Keypair) -> int:
    rail = rail_of(app)
    account = await rail.backend.account(rail.token.token_account(wallet.pubkey()))
    return 0 if account is None else token_amount(bytes(account.data))


async def has_thb(app: FastAPI, wallet: Keypair, satang: int) -> bool:
    return await thb_balance(app, wallet) == satang


async def assert_backed(http: httpx.AsyncClient) -> dict[str, object]:
    now = await reserve(http)
    assert now["difference"] == 0 and not now["flagged"], now
    return now


async def test_deposit_pays_in_a_thb_market_and_withdrawal_produces_pain001(pg_dsn: str, tmp_path: Path) -> None:
    async with rail_app(pg_dsn, tmp_path) as (app, http):
        consumer = await Actors(http).user("thb-consumer", "consumer")
        rail_of(app).backend.chain.fund(consumer.pubkey())  # type: ignore[attr-defined]
        ref = await reference(http, consumer)
        assert ref == await reference(http, consumer)  # one reference per wallet
        bank = Bank()

        # 1. A camt.053 with the consumer's transfer of 500.00 THB mints 50,000 satang.
        statement = bank.statement([bank.entry(50_000, remittance=f"GridTokenX top-up {ref}")])
        resp = await import_statement(http, statement)
        assert resp.status_code == 200, resp.text
        assert resp.json()["matched"] == 1
        await wait_for(lambda: has_thb(app, consumer, 50_000))
        snap = await assert_backed(http)
        assert snap["supply"] == snap["bank_balance"] == 50_000

        # 2. The same statement again mints nothing.
        resp = await import_statement(http, statement)
        assert resp.status_code == 200 and resp.json()["duplicate"] is True, resp.text
        assert await thb_balance(app, consumer) == 50_000
        await assert_backed(http)

        # 3. THB pays in the market whose payment mint is THB: a bid escrows it.
        markets = (await http.get("/api/markets")).json()
        (thb_market,) = [m for m in markets if m["payment_mint"] == str(rail_of(app).token.mint)]
        tx, _ = trading_client.place_order_tx(consumer, thb_market, side="buy", price_per_kwh_micro=450,
                                              energy_wh=10_000)  # 10 kWh at 4.50 THB/kWh
        resp = await http.post("/api/transactions", json={"transaction": tx})
        assert resp.status_code == 201, resp.text
        assert await thb_balance(app, consumer) == 50_000 - 4_500
        await assert_backed(http)  # escrow moves THB, it does not change the supply

        # 4. Withdraw 200.00 THB: burn, then a pain.001 for the bank.
        payout = await withdraw(http, consumer, 20_000)
        assert payout["status"] == "burned"
        assert await thb_balance(app, consumer) == 50_000 - 4_500 - 20_000
        snap = await assert_backed(http)
        assert snap["payouts_open"] == 20_000
        resp = await http.post("/api/payments/payout-files", headers=OPERATOR)
        assert resp.status_code == 201, resp.text
        produced = resp.json()
        assert_pain001_valid(produced["xml"])
        doc = ET.fromstring(produced["xml"])
        ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
        assert doc.findtext(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", namespaces=ns) == "200.00"
        assert doc.findtext(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", namespaces=ns) == f"GTXP-{payout['id']}"
        assert (await http.get(f"/api/payments/withdrawals/{payout['id']}")).json()["status"] == "file_produced"
        # A payout (and the bank account it goes to) is its wallet's to read, not another's.
        path = f"/api/payments/withdrawals/{payout['id']}"
        own = {"Authorization": f"Bearer {await wallet.read_token(http, consumer)}"}
        assert (await http.get(path, headers=own)).status_code == 200
        other = {"Authorization": f"Bearer {await wallet.read_token(http, Keypair())}"}
        resp = await http.get(path, headers=other)
        assert (resp.status_code, resp.json()["error"]["reason"]) == (403, "not_yours")
        resp = await http.get(path, headers={"Authorization": ""})
        assert resp.status_code == 401
        await assert_backed(http)

        # 5. The bank executes it: the next statement's debit entry confirms the payout.
        resp = await import_statement(http, bank.statement(
            [bank.entry(20_000, direction="DBIT", end_to_end_id=f"GTXP-{payout['id']}")]))
        assert resp.status_code == 200 and resp.json()["payouts_confirmed"] == 1, resp.text
        assert (await http.get(f"/api/payments/withdrawals/{payout['id']}")).json()["status"] == "confirmed"
        snap = await assert_backed(http)
        assert snap["bank_balance"] == snap["supply"] == 30_000
        assert snap["days"] and snap["days"][0]["flagged"] is False

        events = (await http.get("/api/payments/events", headers=OPERATOR)).json()
        kinds = {e["kind"] for e in events}
        assert {"reference_issued", "statement_imported", "deposit_matched", "deposit_minted", "statement_duplicate",
                "payout_requested", "payout_burned", "payout_file_produced", "payout_confirmed"} <= kinds


async def test_refusals_have_reason_codes(pg_dsn: str, tmp_path: Path) -> None:
    async with rail_app(pg_dsn, tmp_path, max_deposit_satang=100_000, daily_mint_cap_satang=150_000) as (app, http):
        alice = await Actors(http).user("thb-alice", "consumer")
        bob = await Actors(http).user("thb-bob", "consumer")
        rail_of(app).backend.chain.fund(bob.pubkey())  # type: ignore[attr-defined]
        ref = await reference(http, alice)
        bank = Bank()
        good = bank.statement([bank.entry(1_000, remittance=ref)])
        resp = await http.post("/api/payments/statements", content=good)
        assert resp.status_code == 401 and resp.json()["error"]["reason"] == "operator_auth_required"
        for body, reason in [
            (b"<not-xml", "not_xml"),
            (b'<Document xmlns="urn:example"/>', "unknown_message"),
            (good.replace(b'Ccy="THB"', b'Ccy="EUR"'), "wrong_currency"),
            (good.replace(b"<AcctSvcrRef>", b"<AddtlNtryInf>").replace(b"</AcctSvcrRef>", b"</AddtlNtryInf>"),
             "schema_invalid"),
            (good.replace(b">10.00<", b">10.01<", 1), "balances_do_not_add_up"),
            (good.replace(RESERVE_ACCOUNT.encode(), b"TH9999999999999"), "wrong_account"),
            (good.replace(b"<Dt>", b"<!DOCTYPE x><Dt>", 1), "not_xml"),
        ]:
            resp = await import_statement(http, body)
            assert resp.status_code == 422 and resp.json()["error"]["reason"] == reason, (reason, resp.text)
        assert await thb_balance(app, alice) == 0
        assert (await import_statement(http, good)).json()["matched"] == 1  # refusals booked nothing
        await wait_for(lambda: has_thb(app, alice, 1_000))
        # Held deposits: no reference, an unknown one, one over the single-deposit limit, one
        # over the day's mint cap (1,000 minted today + 149,500 > 150,000).
        resp = await import_statement(http, bank.statement([
            bank.entry(500), bank.entry(700, remittance="RF18539007547034"), bank.entry(200_000, remittance=ref),
            bank.entry(99_500, remittance=ref), bank.entry(50_000, remittance=ref)]))
        assert resp.json()["held"] == 4 and resp.json()["matched"] == 1, resp.text
        await wait_for(lambda: has_thb(app, alice, 100_500))
        now = await assert_backed(http)
        assert now["held"] == 500 + 700 + 200_000 + 50_000 and now["supply"] == 100_500
        reasons = {json.loads(e["detail"]).get("reason") for e in
                   (await http.get("/api/payments/events", headers=OPERATOR)).json() if e["kind"] == "deposit_held"}
        assert reasons == {"no_reference", "unknown_reference", "above_max_deposit", "daily_mint_cap"}
        # A withdrawal of somebody else's THB, or without THB, is refused.
        resp = await http.post("/api/payments/withdrawals", json={
            "wallet": str(alice.pubkey()), "amount_satang": 100, "creditor_name": "A", "iban": "DE00123"})
        assert resp.json()["error"]["reason"] == "bad_iban"
        resp = await http.post("/api/payments/withdrawals", json={
            "wallet": str(alice.pubkey()), "amount_satang": 100, "creditor_name": "A", "account_number": "1234567890"})
        created = resp.json()
        token = rail_of(app).token
        blockhash = await rail_of(app).backend.latest_blockhash()
        bobs = Transaction.new_signed_with_payer([token.burn_instruction(bob.pubkey(), 100)], bob.pubkey(), [bob],
                                                 blockhash)  # bob's own burn is not alice's payout
        resp = await http.post(f"/api/payments/withdrawals/{created['payout']['id']}/burn",
                               json={"transaction": base64.b64encode(bytes(bobs)).decode()})
        assert resp.status_code == 422 and resp.json()["error"]["reason"] == "not_the_burn", resp.text
        unsigned = created["transaction"]  # alice's burn, not signed
        resp = await http.post(f"/api/payments/withdrawals/{created['payout']['id']}/burn",
                               json={"transaction": unsigned})
        assert resp.status_code == 422 and resp.json()["error"]["reason"] == "bad_signature", resp.text
        resp = await http.post(f"/api/payments/withdrawals/{created['payout']['id']}/burn",
                               json={"transaction": sign_burn(alice, created["transaction"])})
        assert resp.status_code == 200 and resp.json()["status"] == "burned", resp.text
        await assert_backed(http)
        resp = await http.post(f"/api/payments/withdrawals/{created['payout']['id']}/burn",
                               json={"transaction": "!!"})
        assert resp.json()["error"]["reason"] == "malformed_transaction"
        resp = await http.post("/api/payments/payout-files", headers={"Authorization": "Bearer wrong"})
        assert resp.status_code == 401 and resp.json()["error"]["reason"] == "operator_auth_required"


async def test_operator_endpoints_off_without_a_secret(pg_dsn: str, tmp_path: Path) -> None:
    async with rail_app(pg_dsn, tmp_path, operator_token=None) as (_, http):
        resp = await http.post("/api/payments/payout-files", headers=OPERATOR)
        assert resp.status_code == 403 and resp.json()["error"]["reason"] == "operator_not_configured"
