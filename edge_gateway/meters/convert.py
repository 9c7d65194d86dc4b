"""Register block -> the integer reading values of docs/envelope.md (no floats leave here).

The rule is the firmware's (``firmware/meter/reading.py``), so a meter reads the same
integers whether an ESP32 or the gateway polls it: each field is the float32 register
value taken **exactly** (every float32 is exactly representable as a fraction), times
the integer scale, rounded half away from zero. ``kWh * 1000`` in binary floating point
would instead round twice and can be one watt-hour off on a large counter.

* ``imp_wh`` / ``exp_wh``, ``v_dv``, ``f_chz`` must not be negative (``out_of_range``);
* ``pf_milli`` is clamped to [-1000, 1000]: a meter's float may sit a rounding step
  beyond |1|;
* NaN or infinity anywhere is ``not_a_number``; a block shorter than the map needs is
  ``short_block``. Each raises :class:`~edge_gateway.errors.MeterError`: the interval
  gives no reading rather than a made-up one.

The register offsets come from the register map (``hardware.registers``
``MeterModel.firmware_block``), never from constants here.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from fractions import Fraction

from edge_gateway.errors import MeterError

__all__ = ["FIELDS", "decode_block", "registers_to_bytes", "scaled_f32"]

#: (reading key, register-map product field, integer scale, rule): ``+`` must be >= 0,
#: ``~`` clamp to [-1000, 1000], ``""`` any sign. Same table as the firmware's.
FIELDS: tuple[tuple[str, str, int, str], ...] = (
    ("imp_wh", "import_energy_kwh", 1000, "+"),
    ("exp_wh", "export_energy_kwh", 1000, "+"),
    ("v_dv", "voltage_v", 10, "+"),
    ("i_ma", "current_a", 1000, ""),
    ("p_w", "active_power_w", 1, ""),
    ("pf_milli", "power_factor", 1000, "~"),
    ("f_chz", "frequency_hz", 100, "+"),
)


def scaled_f32(bits: int, scale: int) -> int:
    """``round(float32(bits) * scale)``, exact, half away from zero; ValueError on NaN/Inf."""
    value = struct.unpack(">f", bits.to_bytes(4, "big"))[0]
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a number")
    exact = Fraction(value) * scale  # a float32 widened to float64 is still exact
    n, d = abs(exact.numerator), exact.denominator
    rounded = (2 * n + d) // (2 * d)  # floor(|x| + 1/2)
    return -rounded if exact < 0 else rounded


def registers_to_bytes(registers: Sequence[int]) -> bytes:
    """16-bit register words as the big-endian bytes they were on the wire."""
    return b"".join(int(w).to_bytes(2, "big") for w in registers)


def decode_block(block: bytes, offsets: Mapping[str, int]) -> dict[str, int]:
    """Integer reading values keyed like the envelope (``imp_wh``, ``v_dv``...).

    ``block`` is the raw register bytes from the block's first register;
    ``offsets`` maps product field names to register offsets in it.
    """
    out: dict[str, int] = {}
    for key, name, scale, rule in FIELDS:
        off = offsets[name] * 2
        if off + 4 > len(block):
            raise MeterError("short_block", f"{name} at register offset {offsets[name]}, block of {len(block) // 2}")
        bits = struct.unpack_from(">I", block, off)[0]
        try:
            value = scaled_f32(bits, scale)
        except ValueError:
            raise MeterError("not_a_number", name) from None
        if rule == "~":
            value = max(-1000, min(1000, value))
        elif rule == "+" and value < 0:
            raise MeterError("out_of_range", f"{name} is negative")
        out[key] = value
    return out
