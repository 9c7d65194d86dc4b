"""The relay of user-signed transactions: only the trading program's user instructions,
validly signed, reach the chain; every refusal says why. And the matcher's own refusals:
a batch the chain refuses is retried fill by fill."""

from __future__ import annotations

import base64

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from aggregator.chain.connect import local_chain
from aggregator.chain.trading import Fill
from aggregator.trading import client as trading_client
from aggregator.trading import Matcher, local_desk
from aggregator.trading.matching import plan_fills
from aggregator.services import services_of
from tests.aggregator.agg_trading_helpers import Floor, floor, running_app  # noqa: F401  (fixture)


async def relay(floor: Floor, encoded: str) -> tuple[int, dict]:
    resp = await floor.http.post("/api/transactions", json={"transaction": encoded})
    return resp.status_code, resp.json()


async def test_a_transaction_calling_another_program_is_refused(floor: Floor) -> None:
    user = floor.consumer()
    market = await trading_client.fetch_market(floor.http, floor.market)
    tx = trading_client.sign(user, [transfer(TransferParams(from_pubkey=user.pubkey(), to_pubkey=Keypair().pubkey(),
                                                            lamports=1))], market["recent_blockhash"])
    status, body = await relay(floor, tx)
    assert status == 422 and body["error"]["reason"] == "program_not_allowed"
    assert body["error"]["detail"]["program"] == "11111111111111111111111111111111"


async def test_matcher_only_instructions_are_refused(floor: Floor) -> None:
    user = floor.consumer()
    market = await trading_client.fetch_market(floor.http, floor.market)
    ref = trading_client.market_ref(market)
    bogus = Keypair().pubkey()
    ix = floor.desk.trading.settle_fills(ref, [Fill(bogus, bogus, user.pubkey(), user.pubkey(), 1)])
    # The user cannot sign as the matcher; the relay refuses before any signature check.
    message = Message.new_with_blockhash([ix], user.pubkey(), floor.chain.local.recent_blockhash())
    tx = Transaction.new_unsigned(message)
    status, body = await relay(floor, base64.b64encode(bytes(tx)).decode())
    assert status == 422 and body["error"]["reason"] == "instruction_not_allowed"
    assert body["error"]["detail"]["name"] == "settle_fills"


async def test_a_badly_signed_order_is_refused_and_nothing_reaches_the_chain(floor: Floor) -> None:
    user, impostor = floor.consumer(), Keypair()
    market = await trading_client.fetch_market(floor.http, floor.market)
    tx_b64, _ = trading_client.place_order_tx(user, market, side="buy", price_per_kwh_micro=100_000, energy_wh=1_000)
    tx = Transaction.from_bytes(base64.b64decode(tx_b64))
    forged = Transaction.populate(tx.message, [impostor.sign_message(bytes(tx.message_data()))])
    status, body = await relay(floor, base64.b64encode(bytes(forged)).decode())
    assert status == 401 and body["error"]["reason"] == "bad_signature"
    unsigned = Transaction.new_unsigned(tx.message)
    status, body = await relay(floor, base64.b64encode(bytes(unsigned)).decode())
    assert status == 401 and body["error"]["reason"] == "bad_signature"
    after = await trading_client.fetch_market(floor.http, floor.market)
    assert after["next_order_id"] == 0


async def test_malformed_input_is_refused(floor: Floor) -> None:
    status, body = await relay(floor, "not base64!")
    assert status == 422 and body["error"]["reason"] == "malformed_transaction"
    status, body = await relay(floor, base64.b64encode(b"\x01garbage").decode())
    assert status == 422 and body["error"]["reason"] == "malformed_transaction"
    status, body = await relay(floor, base64.b64encode(bytes(2000)).decode())
    assert status == 413 and body["error"]["reason"] == "transaction_too_large"


async def test_a_program_refusal_comes_back_typed(floor: Floor) -> None:
    user = floor.consumer()
    market = await trading_client.fetch_market(floor.http, floor.market)
    # 100_500 is not a multiple of the market's tick (1000 per kWh).
    tx, _ = trading_client.place_order_tx(user, market, side="buy", price_per_kwh_micro=100_500, energy_wh=1_000)
    status, body = await relay(floor, tx)
    assert status == 409 and body["error"]["reason"] == "program_error", body
    detail = body["error"]["detail"]
    assert (detail["program"], detail["name"]) == ("trading", "InvalidPrice")
    assert floor.desk.trading.program.errors[detail["code"]].name == "InvalidPrice"
    # The same signed transaction again is a duplicate the chain refuses (not a second order).
    tx_ok, _ = trading_client.place_order_tx(user, market, side="buy", price_per_kwh_micro=100_000, energy_wh=1_000)
    assert (await relay(floor, tx_ok))[0] == 201
    status, body = await relay(floor, tx_ok)
    assert status == 409 and body["error"]["reason"] == "transaction_failed"
    assert (await trading_client.fetch_market(floor.http, floor.market))["next_order_id"] == 1


async def test_a_refused_batch_is_retried_fill_by_fill(pg_dsn: str) -> None:
    """A plan gone stale (an ask cancelled after it was read) fails its batch on chain; the
    matcher then settles the fills that still hold and records the refusal."""
    chain = local_chain()
    desk = local_desk(chain)
    market = desk.markets[0]
    async with running_app(pg_dsn, chain, desk, matcher=False) as (app, http):
        floor = Floor(app, http, chain, desk)
        s1, s2 = await floor.prosumer("r1", 1_000), await floor.prosumer("r2", 1_000)
        buyer = floor.consumer()
        await floor.place(s1, "sell", 100_000, 1_000)
        gone = await floor.place(s2, "sell", 100_000, 1_000)
        bid = await floor.place(buyer, "buy", 100_000, 2_000)
        matcher = Matcher(services_of(app).pool, chain.backend, desk.trading, desk.markets, desk.matcher)
        plan = plan_fills(await matcher._book(market), now=0, lot_size_wh=1)
        assert [f.energy_wh for f in plan] == [1_000, 1_000]
        resp = await trading_client.cancel_order(http, s2, floor.market, gone, "sell")
        assert resp.status_code == 201, resp.text

        report = await matcher.settle(market, plan)
        assert (report.fills, report.energy_wh, report.refused) == (1, 1_000, 1)
        assert floor.order_on_chain(bid).remaining_wh == 1_000 and floor.grid(buyer) == 1_000
        batches = (await http.get("/api/matcher/batches")).json()[::-1]
        assert [(b["fills"], b["ok"]) for b in batches] == [(2, False), (1, True), (1, False)]
        assert batches[0]["error"] == batches[2]["error"] and batches[0]["error"]
        # A later pass plans from the chain again: the cancelled ask is gone, nothing more trades.
        assert (await matcher.run_once()).fills == 0
        await services_of(app).indexer.sync_once()
        assert [t["energy_wh"] for t in await floor.trades()] == [1_000]
