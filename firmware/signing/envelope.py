"""Envelope v1 on the device: payload bytes, signature, wire message.

The layout is specified in docs/envelope.md and pinned by
tests/vectors/envelope_v1.json; the firmware must reproduce the valid
vectors byte for byte. Payloads are formatted by hand (not json.dumps) so the
key order and the absence of spaces are fixed on every MicroPython version.
"""

from binascii import b2a_base64

from wire import READINGS_TOPIC_SUFFIX, STATUS_TOPIC_SUFFIX, TOPIC_PREFIX

# Longest payload a ring slot can hold (transport/ring.py SLOT_BYTES budget).
MAX_PAYLOAD_BYTES = 430

_READING = (
    '{"kind":"reading","meter":"%s","seq":%d,"ts":%d,"clk":%d,"int_s":%d,'
    '"imp_wh":%d,"exp_wh":%d,"v_dv":%d,"i_ma":%d,"p_w":%d,"pf_milli":%d,'
    '"f_chz":%d,"fw":"%s"}'
)
_GAP = (
    '{"kind":"gap","meter":"%s","seq":%d,"ts":%d,"clk":%d,'
    '"from_seq":%d,"to_seq":%d,"fw":"%s"}'
)


class EnvelopeError(Exception):
    """A record that cannot be encoded (reason: payload_too_large)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _check(payload):
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise EnvelopeError("payload_too_large")
    return payload


def reading_payload(meter_id, seq, ts, clk, int_s, values, fw):
    """Payload bytes P of a reading; ``values`` from meter.reading.decode_block."""
    if not clk:
        ts = 0  # no valid clock: the time is marked, never invented
    return _check(
        (
            _READING
            % (
                meter_id, seq, ts, 1 if clk else 0, int_s,
                values["imp_wh"], values["exp_wh"], values["v_dv"], values["i_ma"],
                values["p_w"], values["pf_milli"], values["f_chz"], fw,
            )
        ).encode()
    )


def gap_payload(meter_id, from_seq, to_seq, ts, clk, fw):
    """Payload bytes P of a gap record; its seq is ``to_seq`` (docs/envelope.md)."""
    if not clk:
        ts = 0
    return _check(
        (_GAP % (meter_id, to_seq, ts, 1 if clk else 0, from_seq, to_seq, fw)).encode()
    )


def wire_message(meter_id, payload, signature):
    """The compact JSON wire message carrying P and its signature."""
    return b"".join(
        (
            b'{"v":1,"meter":"', meter_id.encode(), b'","payload":"',
            b2a_base64(payload, newline=False), b'","sig":"',
            b2a_base64(signature, newline=False), b'"}',
        )
    )


def reading_topic(meter_id):
    """MQTT topic for this meter's envelopes (QoS 1)."""
    return TOPIC_PREFIX + meter_id + READINGS_TOPIC_SUFFIX


def status_topic(meter_id):
    """Retained online/offline status topic (the offline value is the MQTT will)."""
    return TOPIC_PREFIX + meter_id + STATUS_TOPIC_SUFFIX
