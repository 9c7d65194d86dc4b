"""Decide what happened to a mint batch whose outcome was not recorded (crash, timeout).

Before submitting, the minter records the chain's counters (the *intent*). Comparing
them with the counters now tells whether the transaction landed:

* unchanged                         -> ``NOT_LANDED``: submit again
* grew by exactly the batch's deltas -> ``LANDED``: confirm, never submit again
* anything else                     -> ``CONFLICT``: someone else moved the counters;
                                       an operator must look (no automatic retry)
"""

from __future__ import annotations

from enum import StrEnum

from aggregator.minting.protocol import ChainMeterState


class Verdict(StrEnum):
    NOT_LANDED = "not_landed"
    LANDED = "landed"
    CONFLICT = "conflict"


def decide(
    before: ChainMeterState, now: ChainMeterState, production_wh: int, consumption_wh: int
) -> Verdict:
    if now == before:
        return Verdict.NOT_LANDED
    if (
        now.production_wh == before.production_wh + production_wh
        and now.consumption_wh == before.consumption_wh + consumption_wh
        and now.settled_production_wh >= before.settled_production_wh
    ):
        return Verdict.LANDED
    return Verdict.CONFLICT
