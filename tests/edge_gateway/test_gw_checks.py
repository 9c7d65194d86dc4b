"""Early checks on local messages (pure): reason codes, and signatures only with keys."""

from __future__ import annotations

import pytest

from common.envelope import reading_topic, sign_envelope
from edge_gateway.errors import IngressReject
from edge_gateway.ingress.checks import check_message
from tests.edge_gateway.gw_helpers import meters


def _reason(topic: str, payload: bytes, keys: dict[str, bytes] | None = None) -> str:
    with pytest.raises(IngressReject) as info:
        check_message(topic, payload, keys)
    return info.value.reason


def test_a_valid_envelope_is_accepted_with_its_bytes_untouched() -> None:
    (m,) = meters("mtr-1")
    raw = m.next()
    ok = check_message(reading_topic("mtr-1"), raw)
    assert (ok.payload, ok.meter, ok.seq, ok.kind) == (raw, "mtr-1", 1, "reading")


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("gtx/v1/meters/mtr-1/status", None, "bad_topic"),
    ("gtx/v1/meters/mtr-2/readings", None, "topic_mismatch"),
    ("gtx/v1/meters/mtr-1/readings", b"[1]", "malformed_json"),
    ("gtx/v1/meters/mtr-1/readings", b'{"v":2,"meter":"mtr-1","payload":"","sig":""}', "unsupported_version"),
    ("gtx/v1/meters/mtr-1/readings", b'{"v":1,"meter":"mtr-1","payload":"e30=","sig":"AA=="}',
     "bad_signature_length"),
])
def test_shape_and_routing_rejects_carry_the_envelope_reason(topic: str, payload: bytes | None, reason: str) -> None:
    (m,) = meters("mtr-1")
    assert _reason(topic, payload if payload is not None else m.next()) == reason


def test_signatures_are_checked_only_when_keys_are_configured() -> None:
    a, b = meters("mtr-a", "mtr-b")
    forged = sign_envelope(b.seed, a.reading(seq=1))
    topic = reading_topic("mtr-a")
    assert check_message(topic, forged).meter == "mtr-a"  # shape only: the aggregator verifies
    keys = {"mtr-a": bytes.fromhex(a.public_key_hex)}
    assert _reason(topic, forged, keys) == "bad_signature"
    assert _reason(reading_topic("mtr-b"), b.next(), keys) == "unknown_meter"
    assert check_message(topic, a.next(), keys).seq == 1
