"""Reason codes for refused readings, and the HTTP status each maps to.

Envelope-level codes (``too_large``, ``bad_signature``, ...) come from
``common.envelope.EnvelopeError.reason`` unchanged; the codes below are the
aggregator's own rules (seed 004 plus counter/sequence discipline).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    UNKNOWN_METER = "unknown_meter"              # no meter registered under this id
    METER_INACTIVE = "meter_inactive"            # registered but suspended or revoked
    TOPIC_MISMATCH = "topic_mismatch"            # MQTT topic meter != envelope meter
    NO_CLOCK = "no_clock"                        # clk=0: the device had no valid time
    TOO_OLD = "too_old"                          # older than max_age_s
    FUTURE_TIMESTAMP = "future_timestamp"        # ahead of server time beyond clock skew
    DUPLICATE_SEQUENCE = "duplicate_sequence"    # (meter, seq) already stored
    DUPLICATE_WINDOW = "duplicate_window"        # same counters re-sent within the window
    TIME_REGRESSED = "time_regressed"            # device time not between the neighbouring readings
    RATE_LIMITED = "rate_limited"                # closer than the per-meter minimum spacing
    COUNTER_DECREASED = "counter_decreased"      # counters below the previous or above the next reading
    ENERGY_NOT_POSITIVE = "energy_not_positive"  # no energy moved since the last reading
    ENERGY_TOO_LARGE = "energy_too_large"        # above max_energy_wh per interval or the rated power


_STATUS: dict[str, int] = {
    Reason.UNKNOWN_METER: 404,
    Reason.METER_INACTIVE: 403,
    Reason.DUPLICATE_SEQUENCE: 409,
    Reason.DUPLICATE_WINDOW: 409,
    Reason.RATE_LIMITED: 429,
    "bad_signature": 401,
    "bad_public_key": 401,
    "too_large": 413,
}


def http_status(reason: str) -> int:
    """HTTP status for a single-reading rejection (422 unless listed)."""
    return _STATUS.get(reason, 422)
