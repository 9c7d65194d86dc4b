"""Property tests of the ingest endpoints: no 5xx, and nothing malformed is ever stored.

Two generators: arbitrary bodies (bytes, JSON, mutated envelopes) and correctly signed
payloads with arbitrary field values (so the signature passes and every later rule is
exercised). After each example, every stored reading must still parse, verify against
its meter's key and satisfy the per-meter ordering and counter invariants.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import nacl.signing
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.envelope import parse_envelope, verify
from tests.aggregator.agg_helpers import Actors, SimMeter
from aggregator.services import services_of

FUZZ = settings(
    max_examples=120, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INT64 = 2**63 - 1


@pytest.fixture
async def fuzz_meter(actors: Actors, client: httpx.AsyncClient) -> SimMeter:
    owner = await actors.user("fuzz-owner")
    m = await actors.meter(owner, "mtr-fz")
    assert (await client.post("/api/meters/submit-reading", content=m.next())).status_code == 201
    return m


def wrap(meter_id: Any, payload: bytes, seed: bytes) -> bytes:
    sig = nacl.signing.SigningKey(seed).sign(payload).signature
    return json.dumps({"v": 1, "meter": meter_id, "payload": base64.b64encode(payload).decode(),
                       "sig": base64.b64encode(sig).decode()}, separators=(",", ":")).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
any_int = st.one_of(st.integers(-(2**70), 2**70), st.integers(-5, 5), st.just(INT64), st.just(INT64 + 1))
field_value = st.one_of(any_int, st.floats(allow_nan=False), st.text(max_size=6), st.none(), st.booleans())


@st.composite
def signed_readings(draw: st.DrawFn, meter: SimMeter) -> bytes:
    r: dict[str, Any] = meter.reading(
        seq=meter.seq + draw(st.integers(-2, 3)),
        ts=meter.ts + draw(st.sampled_from([-600, 0, 30, 60, 300, 900, 10**6, -10**9])),
        imp_wh=meter.imp_wh + draw(st.sampled_from([-1, 0, 1, 50, 100_000, 10**12])),
        exp_wh=meter.exp_wh + draw(st.sampled_from([-1, 0, 1, 500, 99_999, 10**12])),
        v_dv=draw(st.sampled_from([2300, 2**40, -1])),
        p_w=draw(st.sampled_from([-2**62, 0, 2**62])),
    )
    for key in draw(st.lists(st.sampled_from(sorted(r)), max_size=2)):
        r[key] = draw(field_value)
    if draw(st.booleans()):
        r[draw(st.text(min_size=1, max_size=5))] = 1
    meter_id = draw(st.sampled_from([meter.meter_id, meter.meter_id, "mtr-other", "bad id!", 7]))
    payload = json.dumps(r, separators=(",", ":")).encode()
    return wrap(meter_id, payload, meter.seed)


async def assert_no_5xx(resp: httpx.Response) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert isinstance(resp.json()["error"]["reason"], str)


async def assert_store_is_sound(app: FastAPI) -> None:
    async with services_of(app).pool.acquire() as conn:
        keys = {r["meter_id"]: bytes(r["device_pubkey"]) for r in await conn.fetch("SELECT meter_id, device_pubkey FROM meters")}
        rows = await conn.fetch("SELECT * FROM readings ORDER BY meter_id, seq")
        policy = services_of(app).settings.ingest
    prev: dict[str, Any] = {}
    first: dict[str, Any] = {}
    contributed: dict[str, list[int]] = {}
    for row in rows:
        env = parse_envelope(bytes(row["envelope"]))
        verify(env, keys[row["meter_id"]])
        r = env.reading
        assert (env.meter, r["seq"], r["imp_wh"], r["exp_wh"], r["clk"]) == (row["meter_id"], row["seq"], row["imp_wh"], row["exp_wh"], 1)
        # Every interval between consecutive stored readings (by seq) passes the rules.
        p = prev.get(row["meter_id"])
        if p is not None:
            imp, exp = row["imp_wh"] - p["imp_wh"], row["exp_wh"] - p["exp_wh"]
            assert imp >= 0 and exp >= 0
            assert 0 < imp + exp <= policy.max_energy_wh * (row["seq"] - p["seq"])
            assert (row["reading_ts"] - p["reading_ts"]).total_seconds() >= policy.rate_limit_interval_s - policy.rate_limit_jitter_s
        first.setdefault(row["meter_id"], row)
        prev[row["meter_id"]] = row
        c = contributed.setdefault(row["meter_id"], [0, 0])
        c[0] += row["production_wh"]
        c[1] += row["consumption_wh"]
    # The mint rule: contributions add up to the last counters minus the first.
    for meter_id, (exp_sum, imp_sum) in contributed.items():
        assert exp_sum == prev[meter_id]["exp_wh"] - first[meter_id]["exp_wh"]
        assert imp_sum == prev[meter_id]["imp_wh"] - first[meter_id]["imp_wh"]


@FUZZ
@given(data=st.data())
async def test_fuzz_signed_payloads(client: httpx.AsyncClient, app: FastAPI, fuzz_meter: SimMeter, data: st.DataObject) -> None:
    raw = data.draw(signed_readings(fuzz_meter))
    resp = await client.post("/api/meters/submit-reading", content=raw)
    await assert_no_5xx(resp)
    if resp.status_code == 201 and resp.json()["status"] == "accepted":
        accepted = json.loads(base64.b64decode(json.loads(raw)["payload"]))
        if accepted["seq"] > fuzz_meter.seq:  # a late reading leaves the last one in place
            fuzz_meter.seq, fuzz_meter.ts = accepted["seq"], accepted["ts"]
            fuzz_meter.imp_wh, fuzz_meter.exp_wh = accepted["imp_wh"], accepted["exp_wh"]
    await assert_store_is_sound(app)


@st.composite
def arbitrary_bodies(draw: st.DrawFn, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "truncated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=3000))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "truncated":
        return valid[: draw(st.integers(0, len(valid)))]
    pos = draw(st.integers(0, len(valid) - 1))
    return valid[:pos] + bytes([draw(st.integers(0, 255))]) + valid[pos + 1 :]


@FUZZ
@given(data=st.data())
async def test_fuzz_arbitrary_bodies(client: httpx.AsyncClient, app: FastAPI, fuzz_meter: SimMeter, data: st.DataObject) -> None:
    valid = fuzz_meter.sign(fuzz_meter.reading(seq=fuzz_meter.seq + 1, ts=fuzz_meter.ts + 300, exp_wh=fuzz_meter.exp_wh + 10))
    bodies = data.draw(st.lists(arbitrary_bodies(valid), min_size=1, max_size=4))
    await assert_no_5xx(await client.post("/api/meters/submit-reading", content=bodies[0]))
    ctype = data.draw(st.sampled_from(["application/x-ndjson", "application/json", "text/plain"]))
    joined = b"\n".join(bodies) if ctype != "application/json" or data.draw(st.booleans()) else bodies[0]
    await assert_no_5xx(await client.post("/api/meters/submit-readings", content=joined, headers={"content-type": ctype}))
    await assert_store_is_sound(app)
