"""Register block -> the integer reading values of docs/envelope.md (no floats leave here).

The conversion is :mod:`common.meter_values`, the module the firmware runs as its
generated ``firmware/meter/reading.py`` (pure code for MicroPython and CPython alike), so
a meter reads the same integers whether an
ESP32 or the gateway polls it: each float32 register taken exactly, times its integer
scale, rounded half away from zero; negative energy, voltage or frequency is
``out_of_range``, NaN or infinity ``not_a_number``, a block shorter than the map needs
``short_block``, and the power factor is clamped to [-1000, 1000]. This module only
turns register words into bytes and the firmware's error into the gateway's
:class:`~edge_gateway.errors.MeterError` (the interval gives no reading rather than a
made-up one).

The register offsets come from the register map (``hardware.registers``
``MeterModel.firmware_block``), never from constants here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common import meter_values
from edge_gateway.errors import MeterError

__all__ = ["decode_block", "registers_to_bytes"]


def registers_to_bytes(registers: Sequence[int]) -> bytes:
    """16-bit register words as the big-endian bytes they were on the wire."""
    return b"".join(int(w).to_bytes(2, "big") for w in registers)


def decode_block(block: bytes, offsets: Mapping[str, int]) -> dict[str, int]:
    """Integer reading values keyed like the envelope (``imp_wh``, ``v_dv``...).

    ``block`` is the raw register bytes from the block's first register;
    ``offsets`` maps product field names to register offsets in it.
    """
    try:
        return meter_values.decode_block(block, offsets)
    except meter_values.ReadingError as exc:
        raise MeterError(exc.reason, exc.field) from None
