"""Early checks on one local message: pure functions, no I/O.

The gateway relays only messages the aggregator could accept on shape, so a broken
or misrouted meter shows up at the site (metrics, rejects table) instead of only in
the cloud. Checks, in order:

1. the topic is ``gtx/v1/meters/<meter_id>/readings`` (``bad_topic``);
2. the envelope parses (``common.envelope.parse_envelope``: every envelope reason code);
3. the envelope's meter is the topic's meter (``topic_mismatch``);
4. only when a keys file is configured: the meter is known (``unknown_meter``) and the
   signature verifies (``bad_signature``). The meters' keys are registered with the
   aggregator, not with the gateway, so by default signatures are left to the
   aggregator, which verifies every reading anyway.

The bytes accepted here are relayed verbatim; nothing is re-serialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.envelope import EnvelopeError, meter_from_topic, parse_envelope, verify
from edge_gateway.errors import IngressReject

__all__ = ["Accepted", "check_message"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A message that passed the checks: relay ``payload`` unchanged to ``topic``."""

    topic: str
    payload: bytes
    meter: str
    seq: int
    kind: str


def check_message(topic: str, payload: bytes, keys: Mapping[str, bytes] | None = None) -> Accepted:
    """Return :class:`Accepted` or raise :class:`IngressReject` with a reason code."""
    try:
        topic_meter = meter_from_topic(topic)
        envelope = parse_envelope(payload)
    except EnvelopeError as exc:
        raise IngressReject(exc.reason, exc.detail) from None
    if envelope.meter != topic_meter:
        raise IngressReject("topic_mismatch", f"envelope meter {envelope.meter!r} on topic of {topic_meter!r}")
    if keys is not None:
        key = keys.get(envelope.meter)
        if key is None:
            raise IngressReject("unknown_meter", envelope.meter)
        try:
            verify(envelope, key)
        except EnvelopeError as exc:
            raise IngressReject(exc.reason, exc.detail) from None
    return Accepted(topic, payload, envelope.meter, envelope.seq, envelope.kind)
