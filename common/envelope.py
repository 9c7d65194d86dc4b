"""Signed meter envelope, version 1: the one wire format for meter readings.

The firmware signs the exact payload bytes P with the meter's Ed25519 key and
wraps them as ``{"v":1,"meter":...,"payload":<b64 P>,"sig":<b64 sig>}``.
Receivers (edge gateway, aggregator) parse the wrapper, verify the signature
over the raw P bytes and only then trust the decoded reading. P is never
re-serialised for verification: MicroPython and CPython print JSON
differently, so only the bytes that were signed can be checked.

The full specification, with the reason codes below, is docs/envelope.md;
golden vectors are tests/vectors/envelope_v1.json.

Error hierarchy (one class, stable reason codes)::

    EnvelopeError(ValueError)      .reason: str (snake_case), .field: str | None
        too_large                  wire message longer than MAX_WIRE_BYTES
        malformed_json             wrapper is not a UTF-8 JSON object (or has
                                   duplicate keys, NaN/Infinity)
        missing_field              a required field is absent (.field names it)
        unexpected_field           a field outside the schema is present
        bad_field_type             wrong JSON type (floats and booleans are never
                                   accepted where an integer is expected)
        bad_field_value            right type, out of range or inconsistent
        unsupported_version        "v" is an integer other than 1
        bad_meter_id               meter id outside [A-Za-z0-9_-]{1,32}
        bad_base64                 payload or sig is not canonical std base64
        bad_signature_length       sig does not decode to 64 bytes
        malformed_payload          P is not a UTF-8 JSON object
        unknown_kind               P "kind" is neither "reading" nor "gap"
        meter_mismatch             P "meter" differs from the wrapper's "meter"
        bad_public_key             public key is not 32 bytes / not a valid point
        bad_signature              Ed25519 verification failed
        bad_topic                  (meter_from_topic) not gtx/v1/meters/<id>/readings
        bad_seed                   (signing helpers) private seed is not 32 bytes
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from common.wire import (
    ENVELOPE_VERSION,
    GAP_FIELDS,
    MAX_WIRE_BYTES,
    METER_ID_RE,
    PUBLIC_KEY_BYTES,
    READING_FIELDS,
    READINGS_TOPIC_FILTER,
    READINGS_TOPIC_SUFFIX,
    SEED_BYTES,
    SIGNATURE_BYTES,
    TOPIC_PREFIX,
    WRAPPER_FIELDS,
)

try:  # the Rust extension built by scripts/setup.sh (native/gtx_native)
    import gtx_native
except ImportError:  # pragma: no cover - an environment without the build
    gtx_native = None

__all__ = [
    "ENVELOPE_VERSION",
    "MAX_WIRE_BYTES",
    "READINGS_TOPIC_FILTER",
    "Envelope",
    "EnvelopeError",
    "encode_payload",
    "meter_from_topic",
    "parse_envelope",
    "parse_envelopes",
    "public_key_from_seed",
    "reading_topic",
    "sign_envelope",
    "validate_reading",
    "verify",
    "verify_batch",
    "wire_message",
    "BACKENDS",
    "default_backend",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FW_RE = re.compile(r"[A-Za-z0-9._+-]{1,24}")


#: ``reference``: pure Python + PyNaCl, one signature at a time (the specification in
#: code). ``native``: gtx_native parses and batch-verifies off the GIL; it falls back to
#: the reference parser for every message it does not accept, so reason codes and
#: details of rejections are the reference's own.
BACKENDS = ("native", "reference")


def default_backend() -> str:
    """``GTX_ENVELOPE_BACKEND`` if set, else ``native`` when the extension is built."""
    name = os.environ.get("GTX_ENVELOPE_BACKEND") or ("native" if gtx_native is not None else "reference")
    if name not in BACKENDS:
        raise ValueError(f"GTX_ENVELOPE_BACKEND={name!r}: choose one of {', '.join(BACKENDS)}")
    if name == "native" and gtx_native is None:
        raise RuntimeError("GTX_ENVELOPE_BACKEND=native but gtx_native is not built (run scripts/setup.sh)")
    return name

# Payload schemas, in canonical key order (the order the firmware writes).
# Each entry: (name, type, (min, max) or None). Ranges are inclusive.
_READING_FIELDS: tuple[tuple[str, type, tuple[int, int] | None], ...] = (
    ("kind", str, None),
    ("meter", str, None),
    ("seq", int, (1, _INT64_MAX)),
    ("ts", int, (0, _INT64_MAX)),
    ("clk", int, (0, 1)),
    ("int_s", int, (1, 86_400)),
    ("imp_wh", int, (0, _INT64_MAX)),
    ("exp_wh", int, (0, _INT64_MAX)),
    ("v_dv", int, (0, _INT64_MAX)),
    ("i_ma", int, (_INT64_MIN, _INT64_MAX)),
    ("p_w", int, (_INT64_MIN, _INT64_MAX)),
    ("pf_milli", int, (-1000, 1000)),
    ("f_chz", int, (0, _INT64_MAX)),
    ("fw", str, None),
)
_GAP_FIELDS: tuple[tuple[str, type, tuple[int, int] | None], ...] = (
    ("kind", str, None),
    ("meter", str, None),
    ("seq", int, (1, _INT64_MAX)),
    ("ts", int, (0, _INT64_MAX)),
    ("clk", int, (0, 1)),
    ("from_seq", int, (1, _INT64_MAX)),
    ("to_seq", int, (1, _INT64_MAX)),
    ("fw", str, None),
)
_SCHEMAS = {"reading": _READING_FIELDS, "gap": _GAP_FIELDS}
if tuple(f[0] for f in _READING_FIELDS) != READING_FIELDS or tuple(f[0] for f in _GAP_FIELDS) != GAP_FIELDS:
    raise ImportError("common.envelope's payload schema disagrees with common.wire's field lists")


class EnvelopeError(ValueError):
    """A wire message or reading that does not follow envelope v1.

    ``reason`` is a stable snake_case code meant for metrics, logs and API
    responses; ``field`` names the offending field when there is one.
    """

    def __init__(self, reason: str, detail: str = "", field: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.field = field
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed (not yet verified) envelope.

    ``payload_bytes`` are the exact signed bytes; ``reading`` is their decoded,
    schema-checked form. Trust ``reading`` only after :func:`verify`.
    """

    meter: str
    payload_bytes: bytes
    signature: bytes
    reading: dict[str, Any]
    version: int = ENVELOPE_VERSION

    @property
    def kind(self) -> str:
        """``"reading"`` or ``"gap"``."""
        return str(self.reading["kind"])

    @property
    def seq(self) -> int:
        """The per-meter sequence number (a gap record carries its ``to_seq``)."""
        return int(self.reading["seq"])


# --------------------------------------------------------------------------- topics


def reading_topic(meter_id: str) -> str:
    """MQTT topic a meter publishes its envelopes to (QoS 1)."""
    _check_meter_id(meter_id)
    return TOPIC_PREFIX + meter_id + READINGS_TOPIC_SUFFIX


def meter_from_topic(topic: str) -> str:
    """Meter id from a reading topic; ``EnvelopeError('bad_topic')`` otherwise."""
    if not (topic.startswith(TOPIC_PREFIX) and topic.endswith(READINGS_TOPIC_SUFFIX)):
        raise EnvelopeError("bad_topic", repr(topic))
    meter_id = topic[len(TOPIC_PREFIX) : -len(READINGS_TOPIC_SUFFIX)]
    if not METER_ID_RE.fullmatch(meter_id):
        raise EnvelopeError("bad_topic", repr(topic))
    return meter_id


# --------------------------------------------------------------------------- schema


def _check_meter_id(meter_id: object) -> str:
    if not isinstance(meter_id, str):
        raise EnvelopeError("bad_field_type", "meter must be a string", "meter")
    if not METER_ID_RE.fullmatch(meter_id):
        raise EnvelopeError("bad_meter_id", repr(meter_id), "meter")
    return meter_id


def validate_reading(reading: Mapping[str, Any]) -> None:
    """Check a decoded payload against the v1 schema for its ``kind``.

    Raises :class:`EnvelopeError` with the first problem found.
    """
    if "kind" not in reading:
        raise EnvelopeError("missing_field", "kind", "kind")
    kind = reading["kind"]
    if not isinstance(kind, str):
        raise EnvelopeError("bad_field_type", "kind must be a string", "kind")
    schema = _SCHEMAS.get(kind)
    if schema is None:
        raise EnvelopeError("unknown_kind", repr(kind), "kind")
    names = {name for name, _, _ in schema}
    for name, typ, bounds in schema:
        if name not in reading:
            raise EnvelopeError("missing_field", name, name)
        value = reading[name]
        # bool is an int subclass in Python; JSON true/false is never a number here.
        if not isinstance(value, typ) or isinstance(value, bool):
            raise EnvelopeError("bad_field_type", f"{name} must be {typ.__name__}", name)
        if bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
            raise EnvelopeError("bad_field_value", f"{name}={value} outside {bounds}", name)
    for name in reading:
        if name not in names:
            raise EnvelopeError("unexpected_field", name, name)
    _check_meter_id(reading["meter"])
    if not _FW_RE.fullmatch(reading["fw"]):
        raise EnvelopeError("bad_field_value", f"fw={reading['fw']!r}", "fw")
    # A reading without a valid clock carries ts=0: time is marked, never invented.
    if reading["clk"] == 0 and reading["ts"] != 0:
        raise EnvelopeError("bad_field_value", "clk=0 requires ts=0", "ts")
    if reading["clk"] == 1 and reading["ts"] == 0:
        raise EnvelopeError("bad_field_value", "clk=1 requires ts>0", "ts")
    if kind == "gap":
        if reading["from_seq"] > reading["to_seq"]:
            raise EnvelopeError("bad_field_value", "from_seq > to_seq", "from_seq")
        if reading["to_seq"] != reading["seq"]:
            raise EnvelopeError("bad_field_value", "gap seq must equal to_seq", "seq")


def encode_payload(reading: Mapping[str, Any]) -> bytes:
    """Canonical payload bytes P: compact JSON, keys in schema order.

    This is the byte layout the firmware writes. Receivers never need it (they
    verify the bytes they got); it exists for tools and tests that sign.
    """
    validate_reading(reading)
    schema = _SCHEMAS[reading["kind"]]
    ordered = {name: reading[name] for name, _, _ in schema}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# --------------------------------------------------------------------------- signing


def public_key_from_seed(signing_key_seed: bytes) -> bytes:
    """The 32-byte Ed25519 public key for a 32-byte private seed."""
    if len(signing_key_seed) != SEED_BYTES:
        raise EnvelopeError("bad_seed", f"seed must be {SEED_BYTES} bytes")
    return bytes(nacl.signing.SigningKey(signing_key_seed).verify_key)


def sign_envelope(signing_key_seed: bytes, reading: Mapping[str, Any]) -> bytes:
    """Build the signed wire message for ``reading`` (a CPython reference signer).

    Used by tests, tools and the gateway's own directly-wired meters.
    """
    if len(signing_key_seed) != SEED_BYTES:
        raise EnvelopeError("bad_seed", f"seed must be {SEED_BYTES} bytes")
    payload = encode_payload(reading)
    signature = nacl.signing.SigningKey(signing_key_seed).sign(payload).signature
    return wire_message(str(reading["meter"]), payload, signature)


def wire_message(meter_id: str, payload: bytes, signature: bytes) -> bytes:
    """Wrap already-signed payload bytes as the compact v1 wire message."""
    _check_meter_id(meter_id)
    if len(signature) != SIGNATURE_BYTES:
        raise EnvelopeError("bad_signature_length", f"{len(signature)} bytes")
    b64p = base64.b64encode(payload).decode("ascii")
    b64s = base64.b64encode(signature).decode("ascii")
    return (
        '{"v":1,"meter":"' + meter_id + '","payload":"' + b64p + '","sig":"' + b64s + '"}'
    ).encode("ascii")


# --------------------------------------------------------------------------- parsing


def _reject_float(text: str) -> Any:
    raise _FloatSeen(text)


def _reject_constant(text: str) -> Any:
    raise EnvelopeError("malformed_json", f"non-finite number {text}")


class _FloatSeen(Exception):
    """Internal: the JSON contained a non-integer number."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    """Internal: a JSON object repeated a key (ambiguous, so rejected)."""


def _strict_json(data: bytes, reason: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
        obj = json.loads(
            text,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except _FloatSeen as exc:
        raise EnvelopeError("bad_field_type", f"non-integer number {exc}") from None
    except _DuplicateKey as exc:
        raise EnvelopeError(reason, f"duplicate key {exc}") from None
    except EnvelopeError as exc:
        raise EnvelopeError(reason, exc.detail) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EnvelopeError(reason, str(exc)) from None
    if not isinstance(obj, dict):
        raise EnvelopeError(reason, "not a JSON object")
    return obj


def _b64(value: str, name: str) -> bytes:
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise EnvelopeError("bad_base64", f"{name}: {exc}", name) from None
    # Only the canonical encoding is accepted, so one payload has one wire form.
    if base64.b64encode(decoded).decode("ascii") != value:
        raise EnvelopeError("bad_base64", f"{name}: not canonical", name)
    return decoded


def parse_envelope(raw: bytes) -> Envelope:
    """Parse and schema-check a wire message. Does not verify the signature."""
    if len(raw) > MAX_WIRE_BYTES:
        raise EnvelopeError("too_large", f"{len(raw)} > {MAX_WIRE_BYTES} bytes")
    wrapper = _strict_json(bytes(raw), "malformed_json")
    for name in WRAPPER_FIELDS:
        if name not in wrapper:
            raise EnvelopeError("missing_field", name, name)
    for name in wrapper:
        if name not in WRAPPER_FIELDS:
            raise EnvelopeError("unexpected_field", name, name)
    version = wrapper["v"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise EnvelopeError("bad_field_type", "v must be an integer", "v")
    if version != ENVELOPE_VERSION:
        raise EnvelopeError("unsupported_version", str(version), "v")
    meter_id = _check_meter_id(wrapper["meter"])
    for name in ("payload", "sig"):
        if not isinstance(wrapper[name], str):
            raise EnvelopeError("bad_field_type", f"{name} must be a string", name)
    payload = _b64(wrapper["payload"], "payload")
    signature = _b64(wrapper["sig"], "sig")
    if len(signature) != SIGNATURE_BYTES:
        raise EnvelopeError("bad_signature_length", f"{len(signature)} bytes", "sig")
    reading = _strict_json(payload, "malformed_payload")
    validate_reading(reading)
    if reading["meter"] != meter_id:
        raise EnvelopeError("meter_mismatch", f"{reading['meter']!r} != {meter_id!r}", "meter")
    return Envelope(meter=meter_id, payload_bytes=payload, signature=signature, reading=reading)


def _parse_or_error(raw: bytes) -> Envelope | EnvelopeError:
    try:
        return parse_envelope(raw)
    except EnvelopeError as exc:
        return exc


def parse_envelopes(raws: Sequence[bytes], backend: str | None = None) -> list[Envelope | EnvelopeError]:
    """Parse many wire messages: one :class:`Envelope` or :class:`EnvelopeError` each.

    The native backend parses the messages it can prove valid and hands every other
    one to :func:`parse_envelope`, so both backends give the same results.
    """
    if (backend or default_backend()) == "reference":
        return [_parse_or_error(raw) for raw in raws]
    fast = gtx_native.parse_envelopes([raw if type(raw) is bytes else bytes(raw) for raw in raws])
    return [
        _parse_or_error(raw) if got is None
        else Envelope(meter=got[0], payload_bytes=got[1], signature=got[2], reading=got[3])
        for raw, got in zip(raws, fast, strict=True)
    ]


# --------------------------------------------------------------------------- verifying


def _verify_key(public_key: bytes) -> nacl.signing.VerifyKey:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_BYTES:
        raise EnvelopeError("bad_public_key", "public key must be 32 bytes")
    try:
        return nacl.signing.VerifyKey(bytes(public_key))
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise EnvelopeError("bad_public_key", str(exc)) from None


def _verify_with(key: nacl.signing.VerifyKey, envelope: Envelope) -> None:
    try:
        key.verify(envelope.payload_bytes, envelope.signature)
    except nacl.exceptions.BadSignatureError:
        raise EnvelopeError("bad_signature", f"meter {envelope.meter} seq {envelope.seq}") from None
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise EnvelopeError("bad_public_key", str(exc)) from None


def verify(envelope: Envelope, public_key: bytes) -> None:
    """Verify the Ed25519 signature over the exact payload bytes, or raise."""
    _verify_with(_verify_key(public_key), envelope)


def verify_batch(items: Iterable[tuple[Envelope, bytes]], backend: str | None = None) -> list[EnvelopeError | None]:
    """Verify many envelopes; one result per item (``None`` means valid).

    ``native``: one batch equation for all of them (gtx_native), bisected down to
    single checks only to name the bad ones. ``reference``: libsodium (PyNaCl), which
    has no batch verification, one by one, reusing a VerifyKey per meter. Both never
    stop at the first failure and give the same reason codes.
    """
    if (backend or default_backend()) == "native":
        return _verify_batch_native(list(items))
    return _verify_batch_reference(items)


def _verify_batch_native(items: list[tuple[Envelope, bytes]]) -> list[EnvelopeError | None]:
    results: list[EnvelopeError | None] = [None] * len(items)
    todo: list[int] = []
    for i, (_, public_key) in enumerate(items):
        if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_BYTES:
            results[i] = EnvelopeError("bad_public_key", "public key must be 32 bytes")
        else:
            todo.append(i)
    codes = gtx_native.verify_batch(
        [(items[i][0].payload_bytes, items[i][0].signature, bytes(items[i][1])) for i in todo]
    )
    for i, code in zip(todo, codes, strict=True):
        if code == gtx_native.BAD_SIGNATURE:
            env = items[i][0]
            results[i] = EnvelopeError("bad_signature", f"meter {env.meter} seq {env.seq}")
        elif code != gtx_native.OK:
            results[i] = EnvelopeError("bad_public_key", "public key must be 32 bytes")
    return results


def _verify_batch_reference(items: Iterable[tuple[Envelope, bytes]]) -> list[EnvelopeError | None]:
    keys: dict[bytes, nacl.signing.VerifyKey | EnvelopeError] = {}
    results: list[EnvelopeError | None] = []
    for envelope, public_key in items:
        key = keys.get(bytes(public_key))
        if key is None:
            try:
                key = _verify_key(public_key)
            except EnvelopeError as exc:
                key = exc
            keys[bytes(public_key)] = key
        if isinstance(key, EnvelopeError):
            results.append(key)
            continue
        try:
            _verify_with(key, envelope)
        except EnvelopeError as exc:
            results.append(exc)
        else:
            results.append(None)
    return results
