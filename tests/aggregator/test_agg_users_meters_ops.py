"""Registration with wallet-signed challenges, meter ownership, ops endpoints, event stream."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from solders.keypair import Keypair
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    # Starlette suggests the "httpx2" fork for its TestClient; plain httpx works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from aggregator.app import create_app
from aggregator.users.challenge import signing_message
from aggregator.services import services_of
from aggregator.users.tokens import Role
from tests.aggregator.agg_helpers import ADMIN_WALLET, Actors, SimMeter, make_settings, seed_for
from devservers import free_tcp_port


async def test_user_registration_requires_a_fresh_signed_challenge(client: httpx.AsyncClient, actors: Actors) -> None:
    kp = Keypair.from_seed(seed_for("wallet:hal"))
    wallet = str(kp.pubkey())
    nonce, sig = await actors.signed(kp, "register_user", {"role": "prosumer"})
    body = {"wallet": wallet, "role": "prosumer", "nonce": nonce, "signature": sig}
    # Signed as a consumer, submitted as a prosumer: the signature does not cover the request.
    forged = dict(body, role="consumer")
    resp = await client.post("/api/users", json=forged)
    assert resp.status_code == 401 and resp.json()["error"]["reason"] == "bad_wallet_signature"
    assert (await client.post("/api/users", json=body)).status_code == 201
    resp = await client.post("/api/users", json=body)  # replay of a spent nonce
    assert resp.status_code == 401 and resp.json()["error"]["reason"] == "challenge_invalid"
    nonce2, sig2 = await actors.signed(kp, "register_user", {"role": "prosumer"})
    resp = await client.post("/api/users", json=dict(body, nonce=nonce2, signature=sig2))
    assert resp.status_code == 409 and resp.json()["error"]["reason"] == "user_exists"
    # The nonce was spent when its signature verified, although the request then failed.
    resp = await client.post("/api/users", json=dict(body, nonce=nonce2, signature=sig2))
    assert resp.status_code == 401 and resp.json()["error"]["reason"] == "challenge_invalid"
    user = (await client.get(f"/api/users/{wallet}")).json()
    assert user["role"] == "prosumer"


async def test_the_display_name_is_covered_by_the_signature(client: httpx.AsyncClient, actors: Actors) -> None:
    kp = Keypair.from_seed(seed_for("wallet:kim"))
    nonce, sig = await actors.signed(kp, "register_user", {"role": "consumer", "display_name": "Kim"})
    body = {"wallet": str(kp.pubkey()), "role": "consumer", "display_name": "Kim", "nonce": nonce, "signature": sig}
    for forged in (dict(body, display_name="Mallory"), {k: v for k, v in body.items() if k != "display_name"}):
        resp = await client.post("/api/users", json=forged)
        assert resp.status_code == 401 and resp.json()["error"]["reason"] == "bad_wallet_signature"
    # Unsigned: a name a relay adds to a request signed without one is refused too.
    nonce, sig = await actors.signed(kp, "register_user", {"role": "consumer"})
    resp = await client.post("/api/users", json={**body, "nonce": nonce, "signature": sig})
    assert resp.status_code == 401 and resp.json()["error"]["reason"] == "bad_wallet_signature"
    assert (await client.post("/api/users", json={**body, "display_name": None, "nonce": nonce, "signature": sig})
            ).status_code == 201
    assert (await client.get(f"/api/users/{kp.pubkey()}")).json()["display_name"] is None


async def test_challenge_of_another_wallet_or_purpose_is_refused(client: httpx.AsyncClient, actors: Actors) -> None:
    ivy, jon = Keypair.from_seed(seed_for("ivy")), Keypair.from_seed(seed_for("jon"))
    nonce, _ = await actors.signed(ivy, "register_user", {"role": "consumer"})
    sig = str(jon.sign_message(signing_message("register_user", str(jon.pubkey()), nonce, {"role": "consumer"})))
    resp = await client.post("/api/users", json={"wallet": str(jon.pubkey()), "role": "consumer", "nonce": nonce, "signature": sig})
    assert resp.status_code == 401 and resp.json()["error"]["reason"] == "challenge_invalid"
    resp = await client.post("/api/auth/challenge", json={"wallet": "not-a-key" * 4, "purpose": "register_user"})
    assert resp.status_code == 422 and resp.json()["error"]["reason"] == "bad_wallet"
    resp = await client.post("/api/auth/challenge", json={"wallet": str(ivy.pubkey()), "purpose": "steal"})
    assert resp.status_code == 422 and resp.json()["error"]["reason"] == "malformed_request"


async def test_meter_registration_and_ownership(client: httpx.AsyncClient, actors: Actors) -> None:
    kim = await actors.user("kim")
    lee = await actors.user("lee")
    meter = await actors.meter(kim, "mtr-k")
    listed = (await client.get("/api/meters", params={"owner": str(kim.pubkey())})).json()
    assert [(m["meter_id"], m["device_public_key"], m["status"]) for m in listed] == [
        ("mtr-k", meter.public_key_hex, "active")
    ]
    resp = await actors.set_status(lee, "mtr-k", "revoked")  # not the owner
    assert resp.status_code == 401 and resp.json()["error"]["reason"] == "not_owner"
    fields = {"meter_id": "mtr-k", "device_public_key": SimMeter("x", seed_for("x")).public_key_hex}
    nonce, sig = await actors.signed(kim, "register_meter", fields)
    resp = await client.post("/api/meters", json={**fields, "owner_wallet": str(kim.pubkey()), "nonce": nonce, "signature": sig})
    assert resp.status_code == 409 and resp.json()["error"]["reason"] == "meter_exists"
    stranger = Keypair.from_seed(seed_for("unregistered"))
    fields = {"meter_id": "mtr-s", "device_public_key": meter.public_key_hex}
    nonce, sig = await actors.signed(stranger, "register_meter", fields)
    resp = await client.post("/api/meters", json={**fields, "owner_wallet": str(stranger.pubkey()), "nonce": nonce, "signature": sig})
    assert resp.status_code == 404 and resp.json()["error"]["reason"] == "unknown_user"
    assert (await client.get("/api/meters/nope")).status_code == 404


async def test_ops_endpoints(client: httpx.AsyncClient, actors: Actors) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"database": True, "mqtt": None, "minter": False}
    owner = await actors.user("max")
    m = await actors.meter(owner, "mtr-m")
    await client.post("/api/meters/submit-reading", content=m.next())
    await client.post("/api/meters/submit-reading", content=b"{}")
    text = (await client.get("/metrics")).text
    assert 'gtx_readings_total{outcome="accepted",reason="",transport="http"} 1.0' in text
    assert 'gtx_readings_total{outcome="rejected",reason="missing_field",transport="http"} 1.0' in text
    spec = (await client.get("/openapi.json")).json()
    assert {"/api/meters/submit-reading", "/api/meters/submit-readings", "/api/users", "/api/meters"} <= set(spec["paths"])


def test_websocket_streams_reading_confirmations(pg_dsn: str) -> None:
    with TestClient(create_app(make_settings(pg_dsn))) as tc:
        kp = Keypair.from_seed(seed_for("wallet:ned"))
        wallet = str(kp.pubkey())

        def signed(purpose: str, fields: dict[str, str]) -> dict[str, str]:
            nonce = tc.post("/api/auth/challenge", json={"wallet": wallet, "purpose": purpose}).json()["nonce"]
            return {"nonce": nonce, "signature": str(kp.sign_message(signing_message(purpose, wallet, nonce, fields)))}

        assert tc.post("/api/users", json={"wallet": wallet, "role": "prosumer", **signed("register_user", {"role": "prosumer"})}).status_code == 201
        meter = SimMeter("mtr-ws", seed_for("meter:ws"))
        fields = {"meter_id": "mtr-ws", "device_public_key": meter.public_key_hex}
        assert tc.post("/api/meters", json={**fields, "owner_wallet": wallet, **signed("register_meter", fields)}).status_code == 201
        # Every meter's events: for the operator and admins only, with a token.
        for headers, reason in (({}, "token_required"), ({"Authorization": "Bearer x.y"}, "token_invalid"),
                                (bearer(tc.app, wallet, "owner"), "not_yours")):
            with pytest.raises(WebSocketDisconnect) as refused, \
                    tc.websocket_connect("/api/events", headers=headers) as ws:
                ws.receive_json()
            assert (refused.value.code, refused.value.reason) == (1008, reason)
        with tc.websocket_connect("/api/events", headers=bearer(tc.app, ADMIN_WALLET, "admin")) as ws:
            assert ws.receive_json() == {"type": "subscribed"}
            resp = tc.post("/api/meters/submit-reading", content=meter.next())
            assert resp.status_code == 201
            event = ws.receive_json()
            assert event == {"type": "reading_confirmed", "meter_id": "mtr-ws", "seq": 1,
                             "reading_id": resp.json()["reading_id"]}



async def test_an_idle_stream_ends_when_its_client_leaves(pg_dsn: str) -> None:
    """Served by uvicorn: a client that disconnects while no event flows frees its handler
    at once (otherwise a graceful shutdown would wait for it)."""
    app = create_app(make_settings(pg_dsn))
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        token = bearer(app, ADMIN_WALLET, "admin")["Authorization"].split()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/events?token={token}") as ws:
            assert json.loads(await ws.recv()) == {"type": "subscribed"}
            assert services_of(app).hub.has_subscribers
        deadline = time.monotonic() + 5
        while services_of(app).hub.has_subscribers:
            assert time.monotonic() < deadline, "the closed stream still holds its subscription"
            await asyncio.sleep(0.01)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def bearer(app: Any, wallet: str, role: Role) -> dict[str, str]:
    """An Authorization header for ``wallet`` signed by the running app's key."""
    token, _ = services_of(app).token_signer.issue(wallet, role, 600)
    return {"Authorization": f"Bearer {token}"}
