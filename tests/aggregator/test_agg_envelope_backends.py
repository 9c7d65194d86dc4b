"""Differential tests: the native envelope backend against the reference (PyNaCl) one.

Both backends must give identical results — the same Envelope for every message one
accepts, the same reason code and detail for every refusal — on the golden vectors and
on random mixed batches: valid, forged, replayed, malformed, oversized messages and
keys that are missing, short or not a valid point. The aggregator ingests through
both backends and reports the same outcomes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import gtx_native
import httpx
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.app import create_app
from aggregator.services import services_of
from common.envelope import (
    MAX_WIRE_BYTES,
    Envelope,
    EnvelopeError,
    encode_payload,
    parse_envelopes,
    public_key_from_seed,
    verify_batch,
    wire_message,
)
from tests.aggregator.agg_helpers import Actors, app_client, make_settings

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "envelope_v1.json").read_text())
SEEDS = [hashlib.sha256(f"diff-meter-{i}".encode()).digest() for i in range(4)]
METERS = [f"mtr-d{i}" for i in range(len(SEEDS))]
KEYS = [public_key_from_seed(s) for s in SEEDS]
# Keys a registry could hold that are no usable Ed25519 key.
ODD_KEYS = [bytes(32), b"\x01" + bytes(31), b"\xff" * 32, b"\xec" + b"\xff" * 30 + b"\x7f", KEYS[0][:31]]
INT64 = 2**63 - 1


def outcome(result: Envelope | EnvelopeError | None) -> Any:
    """Comparable form of a parse or verify result."""
    if isinstance(result, EnvelopeError):
        return ("error", result.reason, result.detail, result.field)
    return result


def both_parse(raws: list[bytes]) -> list[Envelope | EnvelopeError]:
    native = parse_envelopes(raws, "native")
    reference = parse_envelopes(raws, "reference")
    assert [outcome(r) for r in native] == [outcome(r) for r in reference]
    return reference


def both_verify(items: list[tuple[Envelope, bytes]]) -> list[EnvelopeError | None]:
    native = verify_batch(items, "native")
    reference = verify_batch(items, "reference")
    assert [outcome(r) for r in native] == [outcome(r) for r in reference]
    return reference


def test_golden_vectors_same_verdicts() -> None:
    cases = VECTORS["valid"] + VECTORS["invalid"]
    raws = [c["wire"].encode() for c in cases]
    parsed = both_parse(raws)
    checked = [(c, env) for c, env in zip(cases, parsed, strict=True) if isinstance(env, Envelope)]
    verdicts = both_verify([(env, bytes.fromhex(c["public_key_hex"])) for c, env in checked])
    for c, env in zip(cases, parsed, strict=True):
        if c in VECTORS["valid"]:
            assert isinstance(env, Envelope), c["name"]
        elif c["stage"] == "parse":
            assert outcome(env)[1] == c["reason"], c["name"]
    for (c, _), verdict in zip(checked, verdicts, strict=True):
        expected = None if c in VECTORS["valid"] else c["reason"]
        assert (verdict.reason if verdict is not None else None) == expected, c["name"]


def test_native_extension_is_what_the_native_backend_runs() -> None:
    # The differential tests below are only meaningful if the extension is built.
    assert gtx_native.verify_batch([]) == b"" or list(gtx_native.verify_batch([])) == []
    assert gtx_native.MAX_WIRE_BYTES == MAX_WIRE_BYTES


def reading(meter: str, seq: int, **override: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "kind": "reading", "meter": meter, "seq": seq, "ts": 1_763_712_000 + 60 * seq, "clk": 1,
        "int_s": 60, "imp_wh": 1000 + seq, "exp_wh": 5000 + 3 * seq, "v_dv": 2301, "i_ma": -4210,
        "p_w": 980, "pf_milli": -990, "f_chz": 4998, "fw": "1.0.0",
    }
    r.update(override)
    return r


def sign_raw(seed: bytes, meter: Any, payload: bytes, *, v: Any = 1) -> bytes:
    sig = nacl.signing.SigningKey(seed).sign(payload).signature
    return json.dumps({"v": v, "meter": meter, "payload": base64.b64encode(payload).decode(),
                       "sig": base64.b64encode(sig).decode()}, separators=(",", ":")).encode()


field_value = st.one_of(
    st.integers(-(2**64), 2**64), st.sampled_from([0, 1, -1, INT64, INT64 + 1, 86_400, 86_401, -1000, 1001]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.none(), st.booleans(),
    st.sampled_from(["reading", "gap", "mtr-d0", "1.0.0", "bad id!", "é", "\x00"]),
)


@st.composite
def message(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """One (wire message, key it is checked against) of a random kind."""
    m = draw(st.integers(0, len(SEEDS) - 1))
    seed, meter, key = SEEDS[m], METERS[m], KEYS[m]
    seq = draw(st.integers(1, 50))
    kind = draw(st.sampled_from(
        ["valid", "gap", "forged", "other_key", "bad_key", "field", "extra", "missing", "layout",
         "bytes", "oversized", "wrapper", "no_clock"]))
    r = reading(meter, seq)
    if kind == "gap":
        to_seq = seq + draw(st.integers(-1, 3))
        r = {"kind": "gap", "meter": meter, "seq": to_seq, "ts": r["ts"], "clk": 1,
             "from_seq": draw(st.integers(1, seq)), "to_seq": to_seq, "fw": "1.0.0"}
        return sign_raw(seed, meter, json.dumps(r, separators=(",", ":")).encode()), key
    if kind == "no_clock":
        r.update(clk=0, ts=draw(st.sampled_from([0, r["ts"]])))
        return sign_raw(seed, meter, json.dumps(r, separators=(",", ":")).encode()), key
    if kind == "field":
        r[draw(st.sampled_from(sorted(r)))] = draw(field_value)
    elif kind == "extra":
        r[draw(st.text(min_size=1, max_size=6))] = draw(field_value)
    elif kind == "missing":
        del r[draw(st.sampled_from(sorted(r)))]
    try:
        payload = json.dumps(r, separators=(",", ":"), allow_nan=True).encode()
    except (TypeError, ValueError):
        payload = b"{}"
    if kind == "layout":
        # Same content, other JSON spellings: spaces, key order, escapes, unicode.
        style = draw(st.sampled_from(["spaced", "sorted", "ascii_escape", "pretty"]))
        if style == "spaced":
            payload = json.dumps(r).encode()
        elif style == "sorted":
            payload = json.dumps(r, sort_keys=True, separators=(",", ":")).encode()
        elif style == "ascii_escape":
            payload = json.dumps(r, separators=(",", ":")).replace('"kind"', '"\\u006bind"').encode()
        else:
            payload = json.dumps(r, indent=2).encode()
    if kind == "forged":
        raw = bytearray(sign_raw(seed, meter, payload))
        sig_at = raw.rindex(b'"sig":"') + 7
        sig = bytearray(base64.b64decode(raw[sig_at:-2]))
        sig[draw(st.integers(0, 63))] ^= 1 << draw(st.integers(0, 7))
        return bytes(raw[:sig_at]) + base64.b64encode(bytes(sig)) + b'"}', key
    if kind == "other_key":
        return sign_raw(SEEDS[(m + 1) % len(SEEDS)], meter, payload), key
    if kind == "bad_key":
        return sign_raw(seed, meter, payload), draw(st.sampled_from(ODD_KEYS))
    if kind == "bytes":
        raw = bytearray(sign_raw(seed, meter, payload))
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(raw) - 1))
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            if op == "flip":
                raw[at] = draw(st.integers(0, 255))
            elif op == "cut":
                del raw[at:]
                if not raw:
                    break
            else:
                raw[at:at] = draw(st.sampled_from([b" ", b"\\", b'"', b"=", b"\xc3\xa9", b"\n", b"1"]))
        return bytes(raw), key
    if kind == "oversized":
        raw = sign_raw(seed, meter, payload)
        pad = draw(st.sampled_from([MAX_WIRE_BYTES - len(raw), MAX_WIRE_BYTES - len(raw) + 1, 5000]))
        return raw[:-1] + b" " * max(pad, 0) + b"}", key
    if kind == "wrapper":
        return sign_raw(seed, draw(st.sampled_from([meter, METERS[(m + 1) % len(METERS)], "bad id!", 7])), payload,
                        v=draw(st.sampled_from([1, 1, 2, 1.0, True, "1"]))), key
    return sign_raw(seed, meter, payload), key


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message(), min_size=1, max_size=40), st.data())
def test_random_mixed_batches_same_verdicts(batch: list[tuple[bytes, bytes]], data: st.DataObject) -> None:
    # Replays: some messages again, anywhere in the batch.
    replays = data.draw(st.lists(st.sampled_from(batch), max_size=5))
    batch = batch + replays
    order = data.draw(st.permutations(range(len(batch))))
    batch = [batch[i] for i in order]
    parsed = both_parse([raw for raw, _ in batch])
    both_verify([(env, key) for env, (_, key) in zip(parsed, batch, strict=True) if isinstance(env, Envelope)])


def test_large_batch_names_exactly_the_bad_signatures() -> None:
    """Thousands of readings with forgeries scattered through them (the bisection path)."""
    raws, keys = [], []
    for seq in range(1, 301):
        for m, seed in enumerate(SEEDS):
            payload = encode_payload(reading(METERS[m], seq))
            sig = nacl.signing.SigningKey(seed).sign(payload).signature
            if (seq * 7 + m) % 97 == 0:
                sig = sig[:40] + bytes([sig[40] ^ 4]) + sig[41:]
            raws.append(wire_message(METERS[m], payload, sig))
            keys.append(KEYS[m])
    parsed = both_parse(raws)
    verdicts = both_verify(list(zip(parsed, keys, strict=True)))  # type: ignore[arg-type]
    bad = [i for i, v in enumerate(verdicts) if v is not None]
    assert len(bad) == sum(1 for seq in range(1, 301) for m in range(4) if (seq * 7 + m) % 97 == 0) > 0


@pytest.mark.parametrize("backend", ["native", "reference"])
async def test_ingest_outcomes_per_backend(pg_dsn: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One mixed batch through the HTTP batch endpoint: the same outcomes with either backend."""
    monkeypatch.setenv("GTX_ENVELOPE_BACKEND", backend)
    app = create_app(make_settings(pg_dsn))
    async with app.router.lifespan_context(app):
        assert services_of(app).ingest.envelope_backend == backend
        async with app_client(app, "http://aggregator") as client:
            actors = Actors(client)
            owner = await actors.user("diff-owner")
            meter = await actors.meter(owner, "mtr-diff")
            first = meter.next()
            env = parse_envelopes([meter.next()], "reference")[0]
            assert isinstance(env, Envelope)
            forged = wire_message(env.meter, env.payload_bytes, bytes([env.signature[0] ^ 1]) + env.signature[1:])
            body = [first, meter.next(), first, forged, b"{}", b"x" * 3000,
                    sign_raw(SEEDS[0], "mtr-nobody", encode_payload(reading("mtr-nobody", 1)))]
            resp = await client.post("/api/meters/submit-readings", content=b"\n".join(body),
                                     headers={"content-type": "application/x-ndjson"})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert (got["accepted"], got["gaps"]) == (2, 0)
    assert [(r["index"], r["reason"]) for r in got["rejections"]] == [
        (2, "duplicate_sequence"), (3, "bad_signature"), (4, "missing_field"), (5, "too_large"),
        (6, "unknown_meter"),
    ]
