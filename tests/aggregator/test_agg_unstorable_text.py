"""Text PostgreSQL cannot store (NUL, lone surrogates) never gives a 5xx, on any route.

Every operation in the OpenAPI schema is called with ``%00`` in each path parameter and
each query parameter, and with a JSON body whose every string field holds a NUL; and a
correctly signed registration carries a NUL in the one field the signature leaves free.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from fastapi import FastAPI
from solders.keypair import Keypair

from tests.aggregator.agg_helpers import seed_for
from tools import wallet


def _body_for(schema: dict[str, Any], components: dict[str, Any], text: str) -> Any:
    if "$ref" in schema:
        return _body_for(components[schema["$ref"].rsplit("/", 1)[-1]], components, text)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return _body_for(schema[key][0], components, text)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _body_for(v, components, text) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_body_for(schema.get("items", {}), components, text)]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return text


async def test_nul_in_every_path_query_and_body_field_is_a_clear_422_never_a_5xx(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    calls = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            url = re.sub(r"\{[^}]+\}", "a%00b", path)
            query = "&".join(f"{p['name']}=a%00b" for p in params if p["in"] == "query")
            for target in filter(None, {url, f"{url}?{query}" if query else None}):
                kwargs: dict[str, Any] = {}
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                if body is not None:
                    kwargs["json"] = _body_for(body, components, "a\x00b")
                resp = await client.request(method.upper(), target, **kwargs)
                calls += 1
                assert resp.status_code < 500, (method, target, resp.status_code, resp.text)
                if "%00" in target:
                    assert resp.status_code == 422, (method, target, resp.text)
                    assert resp.json()["error"]["reason"] == "unstorable_text", resp.text
            if body is not None:  # the body alone, on a plain path
                plain = re.sub(r"\{[^}]+\}", "x", path)
                resp = await client.request(method.upper(), plain, json=_body_for(body, components, "a\x00b"))
                calls += 1
                assert resp.status_code < 500, (method, plain, resp.status_code, resp.text)
    assert calls >= 40


async def test_a_signed_registration_with_a_nul_display_name_is_refused_and_loses_nothing(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    kp = Keypair.from_seed(seed_for("wallet:nul"))
    for name in ("Ann\x00e", "Ann\ud800e"):
        # The name is signed; a lone surrogate cannot even be encoded to sign, so that one is unsigned.
        fields = {"role": "prosumer", "display_name": name} if "\ud800" not in name else {"role": "prosumer"}
        nonce, sig = await wallet.signed_challenge(client, kp, "register_user", fields)
        body = json.dumps({  # ASCII JSON: a lone surrogate travels as its \\u escape
            "wallet": str(kp.pubkey()), "role": "prosumer", "display_name": name, "nonce": nonce, "signature": sig})
        resp = await client.post("/api/users", content=body.encode(), headers={"content-type": "application/json"})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["reason"] in ("unstorable_text", "malformed_request"), resp.text
    # Nothing half-done: the same wallet registers cleanly afterwards.
    resp = await wallet.register_user(client, kp, "prosumer", display_name="Anne")
    assert resp.status_code == 201, resp.text
