"""Turn one register block into integer meter values (no floats leave here).

Shared by the firmware and the edge gateway, so a meter reads the same integers
whichever polls it. MicroPython code: ``firmware/meter/reading.py`` is a generated
copy (``python -m common.wire gen-firmware``); the gateway imports this module.

Meters report IEEE754 float32 values. The ESP32 port computes with single
precision floats, so ``kWh * 1000`` would already lose watt-hours on a
busy meter. Values are therefore scaled with exact integer arithmetic on the
float's bits and rounded half away from zero.
"""

import struct

# reading key, register map field, integer scale, rule (+: must be >= 0,
# ~: clamp to [-1000, 1000], blank: any sign)
FIELDS = (
    ("imp_wh", "import_energy_kwh", 1000, "+"),
    ("exp_wh", "export_energy_kwh", 1000, "+"),
    ("v_dv", "voltage_v", 10, "+"),
    ("i_ma", "current_a", 1000, ""),
    ("p_w", "active_power_w", 1, ""),
    ("pf_milli", "power_factor", 1000, "~"),
    ("f_chz", "frequency_hz", 100, "+"),
)


class ReadingError(Exception):
    """A register value that cannot become a reading.

    ``reason``: not_a_number (NaN/Inf), out_of_range (negative energy,
    voltage or frequency), short_block (fewer registers than the map needs).
    """

    def __init__(self, reason, field=""):
        super().__init__(reason + (": " + field if field else ""))
        self.reason = reason
        self.field = field


def scaled_f32(bits, scale):
    """round(float32(bits) * scale) computed exactly; ValueError on NaN/Inf."""
    sign = bits >> 31
    exp = (bits >> 23) & 0xFF
    mant = bits & 0x7FFFFF
    if exp == 0xFF:
        raise ValueError("not a number")
    if exp:
        mant |= 0x800000
    else:
        exp = 1
    num = mant * scale
    shift = exp - 150
    if shift >= 0:
        val = num << shift
    else:
        val = (num + (1 << (-shift - 1))) >> -shift
    return -val if sign else val


def decode_block(block, fields):
    """Integer values keyed like the envelope (imp_wh, v_dv, ...).

    ``block`` holds the raw register bytes read from ``block_start``;
    ``fields`` maps register-map names to register offsets (regmap.py).
    Power factor is clamped into [-1000, 1000]: a meter's float may sit a
    rounding step beyond |1|.
    """
    out = {}
    for key, name, scale, rule in FIELDS:
        off = fields[name] * 2
        if off + 4 > len(block):
            raise ReadingError("short_block", name)
        bits = struct.unpack_from(">I", block, off)[0]
        try:
            val = scaled_f32(bits, scale)
        except ValueError:
            raise ReadingError("not_a_number", name)
        if rule == "~":
            val = max(-1000, min(1000, val))
        elif rule == "+" and val < 0:
            raise ReadingError("out_of_range", name)
        out[key] = val
    return out
