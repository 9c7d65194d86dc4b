"""Fault injection for emulated meters: every fault is real on the wire.

Response faults act on the bytes the server is about to send:

- ``timeout``  the response is never sent: the client sees no answer at all.
- ``garble``   RTU: one payload bit is flipped after the CRC was computed, so the
               client's CRC check fails. TCP: the MBAP transaction id is corrupted, so
               the client discards the frame as not answering its request.
- ``busy``     the meter answers exception 06 (slave device busy), as an SDM does
               while it is writing its counters to flash.

State faults act on the meter itself:

- ``stuck``    energy counters stop integrating (instantaneous values keep moving);
               energy that flows while stuck is lost, as on a meter with a frozen
               metrology chip.
- ``counter_reset``  every energy register jumps to zero once.
- ``replace``  another meter takes the slot: new serial number, counters from zero.

Response faults apply to the next ``count`` responses (``None``: until cleared).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hardware.errors import FaultError


class FaultKind(str, enum.Enum):
    """Fault names, shared by the Python API and the command line."""

    TIMEOUT = "timeout"
    GARBLE = "garble"
    BUSY = "busy"
    STUCK = "stuck"
    COUNTER_RESET = "counter_reset"
    REPLACE = "replace"


#: Faults that consume one unit per response.
RESPONSE_FAULTS = (FaultKind.TIMEOUT, FaultKind.GARBLE, FaultKind.BUSY)


@dataclass
class FaultPlan:
    """Pending response faults; ``None`` count means 'every response until cleared'."""

    remaining: dict[FaultKind, int | None] = field(default_factory=dict)
    #: how many times each fault has been applied on the wire (for tests and logs)
    applied: dict[FaultKind, int] = field(default_factory=dict)

    def arm(self, kind: FaultKind, count: int | None) -> None:
        if kind not in RESPONSE_FAULTS:
            raise FaultError("not_a_response_fault", f"{kind.value} is not a response fault")
        if count is not None and count < 1:
            raise FaultError("bad_count", f"count must be >= 1 or None, got {count}")
        self.remaining[kind] = count

    def clear(self, kind: FaultKind | None = None) -> None:
        if kind is None:
            self.remaining.clear()
        else:
            self.remaining.pop(kind, None)

    def active(self, kind: FaultKind) -> bool:
        return kind in self.remaining

    def take(self, kind: FaultKind) -> bool:
        """Consume one use of ``kind`` if armed; True when the fault must be applied."""
        if kind not in self.remaining:
            return False
        left = self.remaining[kind]
        if left is not None:
            if left <= 1:
                del self.remaining[kind]
            else:
                self.remaining[kind] = left - 1
        self.applied[kind] = self.applied.get(kind, 0) + 1
        return True


def parse_fault(spec: str) -> tuple[FaultKind, int | None]:
    """Parse ``kind`` or ``kind:count`` (command line form), e.g. ``garble:3``."""
    name, _, count_text = spec.partition(":")
    try:
        kind = FaultKind(name)
    except ValueError as exc:
        known = ", ".join(k.value for k in FaultKind)
        raise FaultError("unknown_fault", f"{name!r} (known: {known})") from exc
    if not count_text:
        return kind, None
    try:
        count = int(count_text)
    except ValueError as exc:
        raise FaultError("bad_count", f"{count_text!r} is not an integer") from exc
    if count < 1:
        raise FaultError("bad_count", f"count must be >= 1, got {count}")
    return kind, count


def garble_rtu(frame: bytes) -> bytes:
    """Flip the low bit of the last payload byte; the stale CRC then fails to match.

    The unit id and function code stay intact so the client still sees 'its' frame
    arrive and rejects it on the CRC, exactly like a noise burst on a long cable.
    """
    if len(frame) < 4:
        return frame
    i = len(frame) - 3
    return frame[:i] + bytes([frame[i] ^ 0x01]) + frame[i + 1 :]


def garble_tcp(frame: bytes) -> bytes:
    """Flip the top bit of the MBAP transaction id; the payload stays intact.

    TCP has no CRC, so what a faulty gateway or proxy produces is a frame that no
    longer matches its request: the client discards it as belonging to another
    transaction and, from its point of view, the request goes unanswered.
    """
    if len(frame) < 8:
        return frame
    return bytes([frame[0] ^ 0x80]) + frame[1:]
