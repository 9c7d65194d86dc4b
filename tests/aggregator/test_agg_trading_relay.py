"""The relay of user-signed transactions: only the trading program's user instructions,
validly signed, reach the chain; every refusal says why."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from aggregator.chain.connect import local_chain
from aggregator.chain.trading import Fill
from aggregator.trading import client as trading_client
from aggregator.trading import local_desk
from tests.aggregator.agg_trading_helpers import Floor, running_app


@pytest.fixture
async def floor(pg_dsn: str) -> AsyncIterator[Floor]:
    chain = local_chain()
    desk = local_desk(chain)
    async with running_app(pg_dsn, chain, desk) as (app, http):
        yield Floor(app, http, chain, desk)


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
