"""Pure decoding of one transaction's logs into the events the indexer stores.

Each program decodes its own events with its IDL; this module walks the log lines
(:func:`aggregator.chain.programs.data_lines`, the same walk as
:meth:`GtxProgram.decode_events`), keeps log order and gives each a stable index: the ordinal of
its ``Program data:`` line among all such lines of the transaction. The index does not
depend on which programs are indexed, so adding a program later never renumbers the
events already stored, and ``(signature, idx)`` identifies an event for good.

It also attributes ``TokensMinted`` (which names only a token account) to a meter:
``settle_and_mint`` emits one ``ProductionSettled`` per meter that mints, then
energy_token emits one ``TokensMinted`` per destination in the same order, so the k-th
mint of a transaction belongs to the k-th settlement's meter.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from aggregator.chain.programs import GtxProgram, data_lines
from aggregator.errors import TransientError

SETTLED = "ProductionSettled"
MINTED = "TokensMinted"


class DecodeError(TransientError):
    """A transaction's logs disagree with the programs' IDLs (an event line that its
    program's decoder did not produce)."""


@dataclass(frozen=True)
class DecodedEvent:
    idx: int
    program: GtxProgram
    name: str
    data: dict[str, Any]
    meter_id: str | None


def decode_transaction(programs: Mapping[Pubkey, GtxProgram], logs: Sequence[str]) -> list[DecodedEvent]:
    """Events of the indexed `programs` in a successful transaction's `logs`, in log order."""
    by_name = {str(pid): p for pid, p in programs.items()}
    events: list[DecodedEvent] = []
    for ordinal, (emitter, payload) in enumerate(data_lines(logs)):
        program = by_name.get(emitter) if emitter else None
        if program is None:
            continue
        try:
            raw = base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise DecodeError("undecodable_event", f"undecodable data line of {program.name}: {payload!r}") from exc
        if raw[:8] not in program.client.coder.events.discriminators:
            continue  # data that is not one of this program's events
        event = program.client.coder.events.parse(raw)
        if event is None:
            raise DecodeError("undecodable_event",
                              f"{program.name} logged an event its decoder cannot read: {payload!r}")
        data = to_json(event.data)
        meter = data.get("meter_id") if isinstance(data.get("meter_id"), str) else None
        events.append(DecodedEvent(ordinal, program, event.name, data, meter))
    return _attribute_mints(events)


def _attribute_mints(events: list[DecodedEvent]) -> list[DecodedEvent]:
    settled = iter([e.meter_id for e in events if e.name == SETTLED])
    return [dataclasses.replace(e, meter_id=next(settled, None)) if e.name == MINTED else e for e in events]


def to_json(value: Any, field: str = "") -> Any:
    """Event fields as JSON values: public keys base58, meter ids text, arrays as lists.

    u64 amounts stay integers (JSON numbers are unbounded; PostgreSQL's jsonb keeps them
    exact)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name), f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Pubkey):
        return str(value)
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        if field == "meter_id" and len(value) == 32:
            return bytes(value).rstrip(b"\0").decode("ascii", errors="replace")
        return [to_json(v) for v in value]
    raise DecodeError("unsupported_field", f"event field {field or '?'} has an unsupported type {type(value).__name__}")
