"""The validation rules for one meter's readings, as pure functions over meter state.

No I/O here: the service loads and locks each meter's state (its first and last
accepted readings), looks up the stored neighbours of readings that arrive late, runs
:func:`evaluate` for that meter's readings in sequence order, and stores the outcome.

A meter's accepted readings form a chain ordered by sequence number. Every *interval*
between two consecutive readings of that chain must pass the same checks (clock order
and spacing, counters that never go backwards, some energy moved, at most the meter's
energy allowance), whichever of the two readings arrived first. So a reading that
arrives after a later one (a gateway backlog, concurrent HTTP, an MQTT redelivery) is
data, not an error: it is accepted when it fits between its neighbours; only a true
duplicate or counters inconsistent with the neighbours are refused.

Each accepted reading carries its *contribution*: how much it raises the meter's
signed export and import since the meter's first reading (the mint rule,
docs/mint-rule.md). A reading past the last one contributes its counters' increase; a
late reading between two stored ones contributes nothing (its neighbours already span
it); a late reading before the first one becomes the new baseline and contributes the
energy between it and the old baseline. Contributions therefore always sum to the last
reading's counters minus the first's, whatever the arrival order.

Order of checks (first failure wins): meter active, clock valid, duplicate sequence,
age, future, then the interval checks against the previous and the next reading.
Sequence comes before time so an at-least-once redelivery is always reported as a
duplicate, whatever its age.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aggregator.config import IngestPolicy
from aggregator.readings.reasons import Reason


@dataclass(frozen=True, slots=True)
class Point:
    """One accepted reading as the rules see it: sequence, device time and counters."""

    seq: int
    ts_s: int
    imp_wh: int
    exp_wh: int


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The stored readings closest to a late reading's sequence number (below and above)."""

    before: Point | None
    after: Point | None


@dataclass(slots=True)
class MeterState:
    """What the rules need to know about a meter: registration, first and last accepted reading."""

    meter_id: str
    device_pubkey: bytes
    status: str
    first: Point | None = None
    last: Point | None = None
    max_power_w: int | None = None
    accepted_in_batch: int = 0
    #: late readings accepted in this batch (ascending seq): closer neighbours than the stored ones
    late_in_batch: list[Point] = field(default_factory=list)

    @property
    def last_seq(self) -> int | None:
        return None if self.last is None else self.last.seq


@dataclass(frozen=True, slots=True)
class Accepted:
    production_wh: int  # contribution to the meter's signed export since its first reading
    consumption_wh: int  # contribution to its signed import


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
    neighbours: Neighbours | None = None,
) -> Accepted | Rejected:
    """Judge one signature-verified ``kind: reading`` payload against ``state``.

    ``neighbours`` are the stored readings around a reading whose sequence number is
    below the meter's last (looked up only for those); a stored reading with the same
    sequence number comes as ``neighbours.after``. On acceptance ``state`` is advanced.
    """
    if state.status != "active":
        return Rejected(Reason.METER_INACTIVE, state.status)
    if reading["clk"] == 0:
        return Rejected(Reason.NO_CLOCK, "device clock not synchronised")
    p = Point(reading["seq"], reading["ts"], reading["imp_wh"], reading["exp_wh"])
    last = state.last
    late = last is not None and p.seq <= last.seq
    if late:
        assert last is not None
        stored_after = neighbours.after if neighbours is not None else last
        if p.seq == last.seq or (stored_after is not None and stored_after.seq == p.seq) \
                or any(q.seq == p.seq for q in state.late_in_batch):
            return Rejected(Reason.DUPLICATE_SEQUENCE, f"seq {p.seq} already stored")
    if now_s - p.ts_s > policy.max_age_s:
        return Rejected(Reason.TOO_OLD, f"age {now_s - p.ts_s} s > {policy.max_age_s} s")
    if p.ts_s - now_s > policy.clock_skew_s:
        return Rejected(Reason.FUTURE_TIMESTAMP, f"{p.ts_s - now_s} s ahead")
    if last is None:
        # First reading of a meter: the baseline its GRID is measured from.
        state.first = state.last = p
        state.accepted_in_batch += 1
        return Accepted(0, 0)
    before: Point | None
    if not late:
        before, after = last, None
    else:
        stored = neighbours or Neighbours(None, None)
        before = stored.before
        for q in state.late_in_batch:  # ascending: the last one below p is the closest
            if q.seq < p.seq and (before is None or q.seq > before.seq):
                before = q
        after = stored.after
        if after is None:  # not looked up: the stored chain ends at the last reading
            after = last
    if before is not None and (bad := _interval(before, p, state, policy)) is not None:
        return bad
    if after is not None and (bad := _interval(p, after, state, policy, next_reading=True)) is not None:
        return bad
    state.accepted_in_batch += 1
    if not late:
        state.last = p
        return Accepted(p.exp_wh - last.exp_wh, p.imp_wh - last.imp_wh)
    state.late_in_batch.append(p)
    state.late_in_batch.sort(key=lambda q: q.seq)
    first = state.first
    if before is None and first is not None and p.seq < first.seq:
        # A new baseline: the energy between it and the old one now counts.
        state.first = p
        return Accepted(first.exp_wh - p.exp_wh, first.imp_wh - p.imp_wh)
    return Accepted(0, 0)


def _interval(a: Point, b: Point, state: MeterState, policy: IngestPolicy, *,
              next_reading: bool = False) -> Rejected | None:
    """The checks every interval between consecutive readings ``a`` -> ``b`` must pass.

    ``next_reading``: ``a`` is the reading being judged and ``b`` the stored one after it.
    """
    who = f"the next reading (seq {b.seq})" if next_reading else f"seq {a.seq}"
    dt = b.ts_s - a.ts_s
    if b.imp_wh == a.imp_wh and b.exp_wh == a.exp_wh and abs(dt) <= policy.duplicate_window_s:
        return Rejected(Reason.DUPLICATE_WINDOW, f"same counters as {who}")
    if dt < 0:
        return Rejected(
            Reason.TIME_REGRESSED,
            f"device time {abs(dt)} s {'after' if next_reading else 'before'} {who}",
        )
    if dt < policy.rate_limit_interval_s - policy.rate_limit_jitter_s:
        return Rejected(
            Reason.RATE_LIMITED,
            f"{dt} s {'before' if next_reading else 'after'} {who} (min {policy.rate_limit_interval_s} s)",
        )
    consumption_wh = b.imp_wh - a.imp_wh
    production_wh = b.exp_wh - a.exp_wh
    if consumption_wh < 0 or production_wh < 0:
        sign = -1 if next_reading else 1
        return Rejected(
            Reason.COUNTER_DECREASED,
            f"import {sign * consumption_wh:+d} Wh, export {sign * production_wh:+d} Wh against {who}",
        )
    energy_wh = consumption_wh + production_wh
    if energy_wh <= 0:
        return Rejected(Reason.ENERGY_NOT_POSITIVE, f"no energy moved between seq {a.seq} and seq {b.seq}")
    # The allowance never trusts parameters the device chose (its ``int_s``): after a gap
    # the delta covers several readings, counted both by sequence numbers and by elapsed
    # device time in the server's minimum spacing (whichever is fewer); and the energy
    # can never exceed the meter's rated power over the elapsed time.
    spacing = max(1, policy.rate_limit_interval_s)
    spanned = max(1, min(b.seq - a.seq, -(-dt // spacing)))
    if energy_wh > policy.max_energy_wh * spanned:
        return Rejected(Reason.ENERGY_TOO_LARGE, f"{energy_wh} Wh over {spanned} interval(s)")
    max_power_w = state.max_power_w or policy.max_power_w
    allowance_wh = max_power_w * max(dt, spacing) // 3600
    if energy_wh > allowance_wh:
        return Rejected(
            Reason.ENERGY_TOO_LARGE,
            f"{energy_wh} Wh in {dt} s exceeds the meter's rated {max_power_w} W ({allowance_wh} Wh)",
        )
    return None
