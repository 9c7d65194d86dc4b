"""The authorisation matrix: every route of the OpenAPI schema, over HTTP, as five callers.

The table below is the contract; ``docs/access-matrix.md`` must say the same (the test
compares them), and every route the schema lists must be in it, so a new route cannot
ship without a decision on who may call it.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import httpx
import pytest
import websockets
from solders.keypair import Keypair

from demo.services import serve_aggregator
from tests.aggregator.agg_helpers import SimMeter, make_settings, seed_for
from tools import wallet

ACTORS = ("owner", "other", "operator", "admin", "anonymous")
ACCESS_REASONS = {401: "token_required", 403: "not_yours"}

# (method, path with its query) -> what owner, other user, operator, admin, anonymous get.
# ok: 2xx; in: past the access check (any non-5xx answer but an access refusal); 401/403: refused.
MATRIX: dict[tuple[str, str], str] = {
    ("POST", "/api/meters/submit-reading"): "in in in in in",
    ("POST", "/api/meters/submit-readings"): "in in in in in",
    ("POST", "/api/meters"): "in in in in in",
    ("GET", "/api/meters"): "ok ok ok ok 401",
    ("GET", "/api/meters?owner={wallet}"): "ok 403 ok ok 401",
    ("POST", "/api/meters/{meter_id}/status"): "in in in in in",
    ("GET", "/api/meters/{meter_id}"): "ok 403 ok ok 401",
    ("GET", "/api/meters/{meter_id}/readings"): "ok 403 ok ok 401",
    ("GET", "/api/meters/{meter_id}/reconciliation"): "ok 403 ok ok 401",
    ("GET", "/api/meters/{meter_id}/rejections"): "ok 403 ok ok 401",
    ("GET", "/api/meters/{meter_id}/gaps"): "ok 403 ok ok 401",
    ("GET", "/api/mints"): "ok ok ok ok 401",
    ("GET", "/api/mints?meter_id={meter_id}"): "ok 403 ok ok 401",
    ("POST", "/api/auth/challenge"): "in in in in in",
    ("POST", "/api/users"): "in in in in in",
    ("GET", "/api/users/{wallet}"): "ok 403 ok ok 401",
    ("GET", "/api/users/{wallet}/balance"): "ok 403 ok ok 401",
    ("POST", "/api/auth/token"): "in in in in in",
    ("GET", "/api/auth/whoami"): "ok ok ok ok 401",
    ("GET", "/api/chain/events"): "403 403 ok ok 401",
    ("GET", "/api/chain/events?meter_id={meter_id}"): "ok 403 ok ok 401",
    ("GET", "/api/chain/meters/{meter_id}/totals"): "in 403 in in 401",
    ("GET", "/api/markets"): "in in in in in",
    ("POST", "/api/transactions"): "in in in in in",
    ("GET", "/api/orders"): "ok ok ok ok 401",
    ("GET", "/api/orders?owner={wallet}"): "ok 403 ok ok 401",
    ("GET", "/api/orderbook?market={market}"): "in in in in in",
    ("GET", "/api/trades"): "ok ok ok ok ok",
    ("GET", "/api/trades?owner={wallet}"): "ok 403 ok ok 401",
    ("GET", "/api/matcher/batches"): "ok ok ok ok ok",
    ("POST", "/api/certificates"): "in in in in in",
    ("GET", "/api/certificates"): "ok ok ok ok ok",
    ("GET", "/api/certificates/{certificate}"): "in in in in in",
    ("GET", "/actions.json"): "ok ok ok ok ok",
    ("GET", "/api/actions/icon.svg"): "ok ok ok ok ok",
    ("GET", "/api/actions/markets/{market}/order"): "in in in in in",
    ("POST", "/api/actions/markets/{market}/order"): "in in in in in",
    ("GET", "/api/actions/markets/{market}/orders/{order}/cancel"): "in in in in in",
    ("POST", "/api/actions/markets/{market}/orders/{order}/cancel"): "in in in in in",
    ("GET", "/api/actions/markets/{market}/buy-now"): "in in in in in",
    ("POST", "/api/actions/markets/{market}/buy-now"): "in in in in in",
    ("GET", "/api/actions/markets/{market}/sell-now"): "in in in in in",
    ("POST", "/api/actions/markets/{market}/sell-now"): "in in in in in",
    ("GET", "/api/actions/markets/{market}/deposit"): "in in in in in",
    ("POST", "/api/actions/markets/{market}/deposit"): "in in in in in",
    ("GET", "/api/actions/markets/{market}/withdraw"): "in in in in in",
    ("POST", "/api/actions/markets/{market}/withdraw"): "in in in in in",
    ("GET", "/api/actions/certificates/{certificate}/transfer"): "in in in in in",
    ("POST", "/api/actions/certificates/{certificate}/transfer"): "in in in in in",
    ("GET", "/api/actions/certificates/{certificate}/retire"): "in in in in in",
    ("POST", "/api/actions/certificates/{certificate}/retire"): "in in in in in",
    ("GET", "/api/markets/{market}/depth"): "in in in in in",
    ("GET", "/api/markets/{market}/trades"): "in in in in in",
    ("GET", "/api/markets/{market}/candles"): "in in in in in",
    ("GET", "/api/markets/{market}/stats"): "in in in in in",
    ("GET", "/api/wallets/{wallet}/balances"): "ok 403 ok ok 401",
    ("GET", "/api/wallets/{wallet}/history"): "ok 403 ok ok 401",
    ("GET", "/api/wallets/{wallet}/statement"): "ok 403 ok ok 401",
    ("POST", "/api/payments/references"): "in in in in in",
    ("POST", "/api/payments/statements"): "in in in in in",
    ("POST", "/api/payments/withdrawals"): "in in in in in",
    ("POST", "/api/payments/withdrawals/{payout_id}/burn"): "in in in in in",
    ("GET", "/api/payments/withdrawals/{payout_id}"): "in in in in 401",
    ("POST", "/api/payments/payout-files"): "in in in in in",
    ("GET", "/api/payments/payout-files/{file_id}"): "in in in in in",
    ("GET", "/api/payments/balance/{wallet}"): "in in in in in",
    ("GET", "/api/payments/reserve"): "in in in in in",
    ("GET", "/api/payments/events"): "in in in in in",
    ("GET", "/healthz"): "ok ok ok ok ok",
    ("GET", "/readyz"): "ok ok ok ok ok",
    ("GET", "/metrics"): "ok ok ok ok ok",
}
#: Not in the OpenAPI schema: checked on its own below.
WEBSOCKETS = {("WS", "/api/events"): "403 403 ok ok 401", ("WS", "/api/markets/{market}/live"): "in in in in in"}

DOC = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"


def _doc_rows() -> dict[tuple[str, str], str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| (GET|POST|WS) \| `([^`]+)` \| (\w+) \| (\w+) \| (\w+) \| (\w+) \| (\w+) \|", line)
        if m:
            rows[(m[1], m[2])] = " ".join(m.group(3, 4, 5, 6, 7))
    return rows


def test_the_documented_matrix_is_the_tested_one() -> None:
    assert _doc_rows() == {**MATRIX, **WEBSOCKETS}


def _check(route: tuple[str, str], actor: str, want: str, resp: httpx.Response) -> str | None:
    status = resp.status_code
    reason = resp.json().get("error", {}).get("reason") if resp.headers.get(
        "content-type", "").startswith("application/json") and isinstance(resp.json(), dict) else None
    if want == "ok":
        good = 200 <= status < 300
    elif want == "in":
        good = status < 500 and reason not in ACCESS_REASONS.values()
    else:
        good = status == int(want) and reason == ACCESS_REASONS[int(want)]
    return None if good else f"{route} as {actor}: want {want}, got {status} {reason}"


async def test_every_route_answers_each_caller_as_the_matrix_says(pg_dsn: str) -> None:
    keys = {name: Keypair.from_seed(seed_for("matrix:" + name)) for name in ("alice", "bob", "olga", "adam")}
    settings = make_settings(pg_dsn).model_copy(update={
        "operator_wallets": frozenset({str(keys["olga"].pubkey())}),
        "admin_wallets": frozenset({str(keys["adam"].pubkey())})})
    async with contextlib.AsyncExitStack() as stack:
        agg = await serve_aggregator(stack, settings)
        http = agg.client
        meters = {}
        for name in ("alice", "bob"):
            assert (await wallet.register_user(http, keys[name], "prosumer")).status_code == 201
            meters[name] = SimMeter(f"MTX-{name.upper()}", seed_for("matrix-meter:" + name))
            resp = await wallet.register_meter(http, keys[name], meters[name].meter_id,
                                               bytes.fromhex(meters[name].public_key_hex))
            assert resp.status_code == 201, resp.text
        assert (await http.post("/api/meters/submit-reading", content=meters["alice"].next())).status_code == 201
        tokens = {actor: await wallet.read_token(http, keys[name])
                  for actor, name in (("owner", "alice"), ("other", "bob"), ("operator", "olga"), ("admin", "adam"))}
        headers = {actor: {"Authorization": f"Bearer {t}"} for actor, t in tokens.items()} | {"anonymous": {}}

        schema = (await http.get("/openapi.json")).json()
        routes = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
        in_table = {(method, path.split("?")[0]) for method, path in MATRIX}
        assert routes - in_table == set(), "routes with no row in the access matrix"
        assert in_table - routes == set(), "rows for routes the service does not serve"

        values = {"wallet": str(keys["alice"].pubkey()), "meter_id": meters["alice"].meter_id,
                  "market": str(keys["bob"].pubkey()), "certificate": "1", "order": str(keys["bob"].pubkey()),
                  "payout_id": "1", "file_id": "1"}
        failures = []
        for route, row in MATRIX.items():
            method, path = route
            url = path.format(**values)
            for actor, want in zip(ACTORS, row.split(), strict=True):
                if method == "GET":
                    resp = await http.get(url, headers=headers[actor])
                else:  # every write is authorised by a signature in its body: an empty one reaches it
                    resp = await http.post(url, json={}, headers=headers[actor])
                failures.append(_check(route, actor, want, resp))
        assert [f for f in failures if f] == []

        # What "ok" returns is the caller's own data: Alice's reading, only Bob's meter for Bob.
        owner = await http.get(f"/api/meters/{meters['alice'].meter_id}/readings", headers=headers["owner"])
        assert [r["seq"] for r in owner.json()] == [1]
        bobs = await http.get("/api/meters", headers=headers["other"])
        assert [m["meter_id"] for m in bobs.json()] == [meters["bob"].meter_id]
        everyone = await http.get("/api/meters", headers=headers["operator"])
        assert {m["meter_id"] for m in everyone.json()} == {m.meter_id for m in meters.values()}

        # The WebSocket of every meter's events.
        ws_url = agg.url.replace("http", "ws") + "/api/events"
        for actor, want in zip(ACTORS, WEBSOCKETS[("WS", "/api/events")].split(), strict=True):
            query = f"?token={tokens[actor]}" if actor in tokens else ""
            async with websockets.connect(ws_url + query) as ws:
                if want == "ok":
                    assert (await ws.recv()) == '{"type":"subscribed"}'
                else:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await ws.recv()
                    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, ACCESS_REASONS[int(want)])

        # The public live channel of a market: answered whoever asks (this service has no
        # market here, so the answer is unknown_market and close 4404, never an access refusal).
        live_url = agg.url.replace("http", "ws") + "/api/markets/{market}/live".format(**values)
        for actor, want in zip(ACTORS, WEBSOCKETS[("WS", "/api/markets/{market}/live")].split(), strict=True):
            assert want == "in"
            query = f"?token={tokens[actor]}" if actor in tokens else ""
            async with websockets.connect(live_url + query) as ws:
                try:
                    first = json.loads(await ws.recv())
                except websockets.ConnectionClosed as exc:
                    assert exc.rcvd is not None and exc.rcvd.code != 1008, (actor, exc.rcvd)
                else:
                    assert first.get("reason") not in ACCESS_REASONS.values(), (actor, first)
