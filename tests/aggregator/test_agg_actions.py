"""Solana Actions: the wallet asks for a transaction, signs it itself, and sends it
through the relay; buy-now and sell-now fill at once and return the unfilled rest."""

from __future__ import annotations

import base64
from typing import Any

from solders.keypair import Keypair
from solders.transaction import Transaction

from aggregator.services import services_of
from tests.aggregator.agg_certificates_helpers import Bureau, bureau  # noqa: F401  (fixture)
from tests.aggregator.agg_trading_helpers import Floor, floor  # noqa: F401  (fixture)
from tests.aggregator.test_agg_minter import wait_for


def sign(wallet: Keypair, encoded: str) -> str:
    tx = Transaction.from_bytes(base64.b64decode(encoded))
    tx.partial_sign([wallet], tx.message.recent_blockhash)
    return base64.b64encode(bytes(tx)).decode()


async def act(floor: Floor, wallet: Keypair, path: str, **params: Any) -> dict[str, Any]:
    """POST the action for `wallet`, sign what comes back, relay it; the action's answer."""
    resp = await floor.http.post(f"/api/actions/markets/{floor.market}/{path}", params=params,
                                 json={"account": str(wallet.pubkey())})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["type"] == "transaction" and body["message"]
    relayed = await floor.http.post("/api/transactions", json={"transaction": sign(wallet, body["transaction"])})
    assert relayed.status_code == 201, relayed.text
    body["relayed"] = relayed.json()
    return body


async def test_discovery_metadata_and_cors(floor: Floor) -> None:
    resp = await floor.http.get("/actions.json")
    assert resp.status_code == 200
    assert resp.json()["rules"] == [{"pathPattern": "/api/actions/**", "apiPath": "/api/actions/**"}]
    assert resp.headers["access-control-allow-origin"] == "*"
    path = f"/api/actions/markets/{floor.market}/buy-now"
    pre = await floor.http.options(path, headers={"Origin": "https://wallet.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200
    assert "POST" in pre.headers["access-control-allow-methods"] and "GET" in pre.headers["allow"]
    meta = await floor.http.get(path)
    assert meta.status_code == 200 and meta.headers["x-action-version"]
    body = meta.json()
    assert body["type"] == "action" and body["label"] == "Buy now" and body["icon"].endswith("/api/actions/icon.svg")
    (link,) = body["links"]["actions"]
    assert {p["name"] for p in link["parameters"]} == {"energy_wh", "max_price_per_kwh_micro", "order"}
    assert (await floor.http.get("/api/actions/icon.svg")).headers["content-type"].startswith("image/svg+xml")
    unknown = await floor.http.get("/api/actions/markets/11111111111111111111111111111111/order")
    assert unknown.status_code == 404 and unknown.json()["error"]["reason"] == "unknown_market"


async def test_limit_order_and_cancel_through_actions(floor: Floor) -> None:
    prosumer = await floor.prosumer("act-s", 2_000)
    placed = await act(floor, prosumer, "order", side="sell", price_per_kwh_micro=150_000, energy_wh=2_000)
    assert placed["relayed"]["instructions"] == ["place_order"]
    order = placed["order_address"]
    await wait_for(lambda: floor._indexed(order))
    assert floor.grid(prosumer) == 0
    # Someone else cannot get a cancel for it.
    other = floor.consumer()
    refused = await floor.http.post(f"/api/actions/markets/{floor.market}/orders/{order}/cancel",
                                    json={"account": str(other.pubkey())})
    assert refused.status_code == 409 and refused.json()["error"]["reason"] == "not_order_owner"
    cancelled = await act(floor, prosumer, f"orders/{order}/cancel")
    assert cancelled["relayed"]["instructions"] == ["cancel_order"]
    assert floor.grid(prosumer) == 2_000
    await floor.settled(order, "cancelled", closed=True)


async def test_buy_now_takes_a_chosen_order_and_returns_the_rest(floor: Floor) -> None:
    seller = await floor.prosumer("act-take", 3_000)
    cheap = await floor.place(seller, "sell", 100_000, 1_000)
    chosen = await floor.place(seller, "sell", 200_000, 2_000)
    buyer = floor.consumer()
    before = floor.payment(buyer)
    body = await act(floor, buyer, "buy-now", energy_wh=5_000, order=chosen)
    # Only the chosen order (not the cheaper one) trades; 3,000 Wh of the 5,000 asked never rest.
    assert (body["planned_wh"], body["fills"]) == (2_000, 1)
    assert body["relayed"]["instructions"] == ["place_order", "settle_fills", "cancel_order"]
    assert floor.grid(buyer) == 2_000
    assert before - floor.payment(buyer) == 200_000 * 2_000 // 1_000  # the maker's price, nothing left in escrow
    assert floor.order_on_chain(body["order_address"]) is None  # the take closed at once
    assert floor.order_on_chain(cheap).remaining_wh == 1_000
    await wait_for(lambda: _has_trade(floor, buyer))
    trades = await floor.trades(owner=str(buyer.pubkey()))
    assert [(t["energy_wh"], t["price_per_kwh_micro"]) for t in trades] == [(2_000, 200_000)]


async def _has_trade(floor: Floor, wallet: Keypair) -> bool:
    return bool(await floor.trades(owner=str(wallet.pubkey())))


async def test_buy_now_walks_the_book_within_a_limit(floor: Floor) -> None:
    seller = await floor.prosumer("act-walk", 3_000)
    await floor.place(seller, "sell", 100_000, 1_000)
    await floor.place(seller, "sell", 120_000, 1_000)
    dear = await floor.place(seller, "sell", 300_000, 1_000)
    buyer = floor.consumer()
    before = floor.payment(buyer)
    body = await act(floor, buyer, "buy-now", energy_wh=2_000, max_price_per_kwh_micro=150_000)
    # Filled completely: the take is closed with expire_order, the improvement refunded with the escrow.
    assert (body["planned_wh"], body["fills"]) == (2_000, 2)
    assert body["relayed"]["instructions"][-1] == "expire_order"
    assert floor.grid(buyer) == 2_000 and before - floor.payment(buyer) == 100_000 + 120_000
    assert floor.order_on_chain(dear).remaining_wh == 1_000


async def test_sell_now_hits_the_best_bid(floor: Floor) -> None:
    buyer = floor.consumer()
    low = await floor.place(buyer, "buy", 90_000, 1_000)
    high = await floor.place(buyer, "buy", 110_000, 1_000)
    seller = await floor.prosumer("act-sell", 2_000)
    body = await act(floor, seller, "sell-now", energy_wh=1_500, min_price_per_kwh_micro=100_000)
    assert (body["planned_wh"], body["fills"]) == (1_000, 1)
    assert floor.grid(buyer) == 1_000 and floor.grid(seller) == 1_000  # the unfilled 500 Wh came back at once
    fee = -(-110_000 * 25 // 10_000)
    assert floor.payment(seller) == 110_000 - fee
    assert floor.order_on_chain(high).remaining_wh == 0 and floor.order_on_chain(low).remaining_wh == 1_000


async def test_nothing_to_take_is_a_reasoned_refusal(floor: Floor) -> None:
    buyer = floor.consumer()
    resp = await floor.http.post(f"/api/actions/markets/{floor.market}/buy-now", params={"energy_wh": 1_000},
                                 json={"account": str(buyer.pubkey())})
    assert resp.status_code == 409 and resp.json()["error"]["reason"] == "nothing_to_take"
    bad = await floor.http.post(f"/api/actions/markets/{floor.market}/buy-now", params={"energy_wh": 1_000},
                                json={"account": "not-a-wallet-address-at-all-0000000000"})
    assert bad.status_code == 422 and bad.json()["error"]["reason"] == "invalid_address"


async def test_deposit_and_withdraw_through_actions(floor: Floor) -> None:
    buyer = floor.consumer()
    before = floor.payment(buyer)
    deposited = await act(floor, buyer, "deposit", asset="payment", amount=400_000)
    assert deposited["relayed"]["instructions"] == ["deposit"]
    assert before - floor.payment(buyer) == 400_000
    withdrawn = await act(floor, buyer, "withdraw", asset="payment", amount=150_000)
    assert withdrawn["relayed"]["instructions"] == ["withdraw"]
    assert before - floor.payment(buyer) == 250_000


async def test_certificate_transfer_and_retire_through_actions(bureau: Bureau) -> None:
    p = await bureau.prosumer("act-cert", 2)
    cert = (await bureau.issue(p))["address"]
    holder = bureau.stranger()

    async def act_on(wallet: Keypair, path: str, **params: str) -> dict[str, Any]:
        resp = await bureau.http.post(f"/api/actions/certificates/{cert}/{path}", params=params,
                                      json={"account": str(wallet.pubkey())})
        assert resp.status_code == 200, resp.text
        sent = await bureau.relay(sign(wallet, resp.json()["transaction"]))
        assert sent.status_code == 201, sent.text
        await services_of(bureau.app).indexer.sync_once()
        return await bureau.get(cert)

    meta = await bureau.http.get(f"/api/actions/certificates/{cert}/transfer")
    assert meta.status_code == 200 and meta.json()["links"]["actions"][0]["parameters"][0]["name"] == "to"
    assert (await act_on(p.wallet, "transfer", to=str(holder.pubkey())))["owner_wallet"] == str(holder.pubkey())
    refused = await bureau.http.post(f"/api/actions/certificates/{cert}/retire", json={"account": str(p.wallet.pubkey())})
    assert refused.status_code == 409 and refused.json()["error"]["reason"] == "not_certificate_owner"
    assert (await act_on(holder, "retire"))["status"] == "retired"
