"""Read tokens: issued for a wallet-signed challenge, verified on every private read."""

from __future__ import annotations

import base64
import json

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from solders.keypair import Keypair

from aggregator.app import create_app
from aggregator.config import Settings
from aggregator.services import services_of
from aggregator.users.challenge import signing_message
from aggregator.users.tokens import TokenSigner
from tests.aggregator.agg_helpers import running, make_settings, seed_for
from tools import wallet


def _settings(dsn: str, **update: object) -> Settings:
    return make_settings(dsn).model_copy(update={"admin_wallets": frozenset(), **update})


async def _reason(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["reason"]


async def test_a_signed_challenge_buys_a_token_that_names_the_wallet_and_its_role(pg_dsn: str) -> None:
    alice, olga = Keypair.from_seed(seed_for("tok:alice")), Keypair.from_seed(seed_for("tok:olga"))
    app = create_app(_settings(pg_dsn, operator_wallets=frozenset({str(olga.pubkey())})))
    async with running(app) as (_, http):
        token = await wallet.read_token(http, alice)
        me = await http.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert (me.json()["wallet"], me.json()["role"]) == (str(alice.pubkey()), "owner")
        op = await http.get("/api/auth/whoami", headers={"Authorization": f"Bearer {await wallet.read_token(http, olga)}"})
        assert op.json()["role"] == "operator"

        # The nonce is single-use, bound to the purpose and to the wallet's signature.
        w = str(alice.pubkey())
        nonce = (await http.post("/api/auth/challenge", json={"wallet": w, "purpose": "read_token"})).json()["nonce"]
        sig = str(alice.sign_message(signing_message("read_token", w, nonce)))
        body = {"wallet": w, "nonce": nonce, "signature": sig}
        assert (await http.post("/api/auth/token", json=body)).status_code == 201
        assert await _reason(await http.post("/api/auth/token", json=body)) == (401, "challenge_invalid")
        nonce = (await http.post("/api/auth/challenge", json={"wallet": w, "purpose": "register_user"})).json()["nonce"]
        other_purpose = str(alice.sign_message(signing_message("register_user", w, nonce)))
        assert await _reason(await http.post("/api/auth/token", json={**body, "nonce": nonce, "signature": other_purpose})) \
            == (401, "bad_wallet_signature")


async def test_forged_expired_and_withdrawn_tokens_are_refused(pg_dsn: str) -> None:
    olga = Keypair.from_seed(seed_for("tok:olga2"))
    settings = _settings(pg_dsn, operator_wallets=frozenset({str(olga.pubkey())}))
    app = create_app(settings)
    async with running(app) as (_, http):
        signer = services_of(app).token_signer
        token, _ = signer.issue(str(olga.pubkey()), "operator", 600)
        body, _, mac = token.partition(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        forged_body = base64.urlsafe_b64encode(json.dumps({**claims, "role": "admin"}).encode()).rstrip(b"=").decode()
        cases = {
            "no bearer scheme": ({"Authorization": token}, (401, "token_invalid")),
            "claims changed": ({"Authorization": f"Bearer {forged_body}.{mac}"}, (401, "token_invalid")),
            "another key": ({"Authorization": f"Bearer {TokenSigner(b'k' * 32).issue(str(olga.pubkey()), 'admin', 600)[0]}"},
                            (401, "token_invalid")),
            "expired": ({"Authorization": f"Bearer {signer.issue(str(olga.pubkey()), 'operator', 60, now=1_000)[0]}"},
                        (401, "token_expired")),
            "garbage": ({"Authorization": "Bearer ..."}, (401, "token_invalid")),
        }
        for name, (headers, want) in cases.items():
            assert await _reason(await http.get("/api/auth/whoami", headers=headers)) == want, name
    # The operator list no longer names her: the same token reads as a plain owner's.
    demoted = create_app(settings.model_copy(update={"operator_wallets": frozenset()}))
    async with running(demoted) as (_, http):
        me = await http.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "owner"
        assert await _reason(await http.get("/api/chain/events", headers={"Authorization": f"Bearer {token}"})) \
            == (403, "not_yours")


async def test_the_generated_secret_is_kept_so_restarts_and_replicas_accept_a_token(pg_dsn: str) -> None:
    alice = Keypair.from_seed(seed_for("tok:alice3"))
    first, second = create_app(_settings(pg_dsn)), create_app(_settings(pg_dsn))
    async with running(first) as (_, one), running(second) as (_, two):
        token = await wallet.read_token(one, alice)
        me = await two.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
    # A configured secret takes precedence: tokens of the generated one no longer verify.
    configured = create_app(_settings(pg_dsn, auth_token_secret=SecretStr("s" * 40)))
    async with running(configured) as (_, http):
        assert await _reason(await http.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})) \
            == (401, "token_invalid")
        assert (await http.get("/api/auth/whoami", headers={
            "Authorization": f"Bearer {await wallet.read_token(http, alice)}"})).status_code == 200


def test_settings_take_comma_separated_wallet_lists_and_refuse_a_short_secret(monkeypatch: object) -> None:
    import pytest

    mp = monkeypatch  # type: ignore[assignment]
    mp.setenv("GTX_OPERATOR_WALLETS", "A1, B2 ,")  # type: ignore[attr-defined]
    mp.setenv("GTX_ADMIN_WALLETS", "C3")  # type: ignore[attr-defined]
    s = Settings(database_url="postgresql://unused")
    assert (s.operator_wallets, s.admin_wallets) == (frozenset({"A1", "B2"}), frozenset({"C3"}))
    with pytest.raises(ValueError):
        Settings(database_url="postgresql://unused", auth_token_secret="short")


async def test_the_public_trade_tape_hides_wallets_from_all_but_the_parties(app: FastAPI) -> None:
    """Rows are written as the indexer writes them; the tape shows wallets to parties only."""
    buyer, seller, stranger = (Keypair.from_seed(seed_for(f"tok:{n}")) for n in ("buyer", "seller", "stranger"))
    async with services_of(app).pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO trades (market_address, bid_order_id, ask_order_id, buyer_wallet, seller_wallet, energy_wh,
                                   price_per_kwh_micro, value_micro, fee_micro, buyer_improvement_micro, tx_signature,
                                   fill_index, slot, executed_at)
               VALUES ('M', 1, 2, $1, $2, 1000, 5, 5, 0, 0, 'sig', 0, 1, now())""",
            str(buyer.pubkey()), str(seller.pubkey()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aggregator") as http:
        [anon] = (await http.get("/api/trades")).json()
        assert (anon["buyer_wallet"], anon["seller_wallet"], anon["energy_wh"]) == (None, None, 1000)
        await wallet.authorize(http, stranger)
        [seen] = (await http.get("/api/trades")).json()
        assert seen["buyer_wallet"] is None
        assert await _reason(await http.get("/api/trades", params={"owner": str(buyer.pubkey())})) == (403, "not_yours")
        await wallet.authorize(http, buyer)
        [mine] = (await http.get("/api/trades", params={"owner": str(buyer.pubkey())})).json()
        assert (mine["buyer_wallet"], mine["seller_wallet"]) == (str(buyer.pubkey()), str(seller.pubkey()))
