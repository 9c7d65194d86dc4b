"""The validation rules for one meter's readings, as pure functions over meter state.

No I/O here: the service loads and locks each meter's state, runs :func:`evaluate`
for that meter's readings in sequence order, and stores the outcome. Accepting a
reading advances the in-memory state, so several readings of one meter in a batch
are judged exactly as if they had arrived one by one.

Order of checks (first failure wins): meter active, clock valid, sequence
(duplicate / regressed), age, future, duplicate window, rate limit, counters, energy.
Sequence comes before time so an at-least-once redelivery is always reported as a
duplicate, whatever its age.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aggregator.config import IngestPolicy
from aggregator.readings.reasons import Reason


@dataclass(slots=True)
class MeterState:
    """What the rules need to know about a meter: registration and last accepted reading."""

    meter_id: str
    device_pubkey: bytes
    status: str
    last_seq: int | None = None
    last_ts_s: int | None = None
    last_imp_wh: int | None = None
    last_exp_wh: int | None = None
    accepted_in_batch: int = 0


@dataclass(frozen=True, slots=True)
class Accepted:
    production_wh: int  # export counter delta
    consumption_wh: int  # import counter delta


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str = ""


def evaluate(
    state: MeterState,
    reading: dict[str, Any],
    *,
    now_s: int,
    policy: IngestPolicy,
    stored_seqs: frozenset[int] | set[int] = frozenset(),
) -> Accepted | Rejected:
    """Judge one signature-verified ``kind: reading`` payload against ``state``.

    ``stored_seqs`` holds sequence numbers of this meter already in the database
    at or below ``state.last_seq`` (looked up only for readings that need it).
    On acceptance ``state`` is advanced to this reading.
    """
    if state.status != "active":
        return Rejected(Reason.METER_INACTIVE, state.status)
    if reading["clk"] == 0:
        return Rejected(Reason.NO_CLOCK, "device clock not synchronised")
    seq: int = reading["seq"]
    if state.last_seq is not None and seq <= state.last_seq:
        if seq in stored_seqs or seq == state.last_seq:
            return Rejected(Reason.DUPLICATE_SEQUENCE, f"seq {seq} already stored")
        return Rejected(Reason.SEQUENCE_REGRESSED, f"seq {seq} < last {state.last_seq}")
    ts_s: int = reading["ts"]
    if now_s - ts_s > policy.max_age_s:
        return Rejected(Reason.TOO_OLD, f"age {now_s - ts_s} s > {policy.max_age_s} s")
    if ts_s - now_s > policy.clock_skew_s:
        return Rejected(Reason.FUTURE_TIMESTAMP, f"{ts_s - now_s} s ahead")
    imp_wh: int = reading["imp_wh"]
    exp_wh: int = reading["exp_wh"]
    if state.last_seq is None or state.last_ts_s is None:
        # First reading of a meter: the baseline the next deltas are measured from.
        _advance(state, seq, ts_s, imp_wh, exp_wh)
        return Accepted(0, 0)
    assert state.last_imp_wh is not None and state.last_exp_wh is not None
    same_counters = imp_wh == state.last_imp_wh and exp_wh == state.last_exp_wh
    if same_counters and abs(ts_s - state.last_ts_s) <= policy.duplicate_window_s:
        return Rejected(Reason.DUPLICATE_WINDOW, f"same counters as seq {state.last_seq}")
    if ts_s - state.last_ts_s < policy.rate_limit_interval_s - policy.rate_limit_jitter_s:
        return Rejected(
            Reason.RATE_LIMITED,
            f"{ts_s - state.last_ts_s} s after the previous reading (min {policy.rate_limit_interval_s} s)",
        )
    consumption_wh = imp_wh - state.last_imp_wh
    production_wh = exp_wh - state.last_exp_wh
    if consumption_wh < 0 or production_wh < 0:
        return Rejected(Reason.COUNTER_DECREASED, f"import {consumption_wh:+d} Wh, export {production_wh:+d} Wh")
    energy_wh = consumption_wh + production_wh
    if energy_wh <= 0:
        return Rejected(Reason.ENERGY_NOT_POSITIVE, "no energy since the previous reading")
    # After a gap the delta covers several readings; the cap is per reading interval,
    # counted both by sequence numbers and by elapsed device time (whichever is fewer),
    # so a jump in seq alone cannot unlock a larger allowance.
    by_time = -(-(ts_s - state.last_ts_s) // max(1, reading["int_s"]))
    spanned = max(1, min(seq - state.last_seq, by_time))
    if energy_wh > policy.max_energy_wh * spanned:
        return Rejected(Reason.ENERGY_TOO_LARGE, f"{energy_wh} Wh over {spanned} interval(s)")
    _advance(state, seq, ts_s, imp_wh, exp_wh)
    return Accepted(production_wh, consumption_wh)


def _advance(state: MeterState, seq: int, ts_s: int, imp_wh: int, exp_wh: int) -> None:
    state.last_seq = seq
    state.last_ts_s = ts_s
    state.last_imp_wh = imp_wh
    state.last_exp_wh = exp_wh
    state.accepted_in_batch += 1
