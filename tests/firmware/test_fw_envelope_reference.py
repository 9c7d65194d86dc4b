"""The CPython reference envelope (common.envelope) against the golden vectors."""

from __future__ import annotations

import json
from pathlib import Path

import nacl.signing
import pytest

from common import envelope as E

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "envelope_v1.json").read_text())
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]


def test_vectors_file_is_current() -> None:
    from tests.vectors import make_envelope_v1

    assert make_envelope_v1.render() == (Path(__file__).parents[1] / "vectors" / "envelope_v1.json").read_text()


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_sign_reproduces_golden_wire_bytes(case: dict) -> None:
    seed = bytes.fromhex(case["seed_hex"])
    assert E.public_key_from_seed(seed).hex() == case["public_key_hex"]
    assert E.encode_payload(case["reading"]) == case["payload"].encode()
    assert E.sign_envelope(seed, case["reading"]) == case["wire"].encode()
    assert E.reading_topic(case["reading"]["meter"]) == case["topic"]


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_parse_and_verify_golden(case: dict) -> None:
    env = E.parse_envelope(case["wire"].encode())
    E.verify(env, bytes.fromhex(case["public_key_hex"]))
    assert env.payload_bytes == case["payload"].encode()
    assert env.signature.hex() == case["signature_hex"]
    assert env.reading == case["reading"]
    assert env.meter == case["reading"]["meter"] == E.meter_from_topic(case["topic"])
    assert env.seq == case["reading"]["seq"]
    # The independent libsodium check agrees.
    nacl.signing.VerifyKey(bytes.fromhex(case["public_key_hex"])).verify(
        env.payload_bytes, env.signature
    )


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_vectors_fail_with_reason(case: dict) -> None:
    with pytest.raises(E.EnvelopeError) as info:
        env = E.parse_envelope(case["wire"].encode())
        assert case["stage"] == "verify", "parse should have failed"
        E.verify(env, bytes.fromhex(case["public_key_hex"]))
    assert info.value.reason == case["reason"]


def test_verify_batch_reports_each_item() -> None:
    items = []
    expected: list[str | None] = []
    for case in VALID:
        items.append((E.parse_envelope(case["wire"].encode()), bytes.fromhex(case["public_key_hex"])))
        expected.append(None)
    for case in INVALID:
        if case["stage"] == "verify":
            items.append((E.parse_envelope(case["wire"].encode()), bytes.fromhex(case["public_key_hex"])))
            expected.append(case["reason"])
    results = E.verify_batch(items)
    assert [r.reason if r else None for r in results] == expected


def test_topic_helpers_reject_foreign_topics() -> None:
    for topic in ("gtx/v1/meters/readings", "gtx/v1/meters/a/b/readings", "gtx/v2/meters/a/readings"):
        with pytest.raises(E.EnvelopeError) as info:
            E.meter_from_topic(topic)
        assert info.value.reason == "bad_topic"
    assert E.READINGS_TOPIC_FILTER == "gtx/v1/meters/+/readings"


def test_bad_seed_is_typed() -> None:
    with pytest.raises(E.EnvelopeError) as info:
        E.sign_envelope(b"short", VALID[0]["reading"])
    assert info.value.reason == "bad_seed"
