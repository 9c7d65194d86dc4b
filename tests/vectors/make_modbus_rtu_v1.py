"""Regenerate tests/vectors/modbus_rtu_v1.json (Modbus RTU golden frames).

    .venv/bin/python -m tests.vectors.make_modbus_rtu_v1 [--check]

Frames come from pymodbus's RTU framer (an independent implementation of
the same wire format), so the firmware's master is tested differentially:
it must produce the request frames byte for byte, return the register data
of the valid responses, and reject the broken ones with the listed reason.
Float vectors pin the exact integer scaling of IEEE754 float32 registers
(computed here with fractions, rounded half away from zero).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from fractions import Fraction
from pathlib import Path

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
)

OUT = Path(__file__).with_name("modbus_rtu_v1.json")
_FRAMER = FramerRTU(DecodePDU(False))


def _frame(pdu: object) -> str:
    return _FRAMER.buildFrame(pdu).hex()


def _with_crc(body: bytes) -> str:
    crc = FramerRTU.compute_CRC(body)
    # pymodbus returns the CRC as the big-endian int of the two wire bytes.
    return (body + crc.to_bytes(2, "big")).hex()


def _round_half_away(x: Fraction) -> int:
    n = abs(x)
    whole = n.numerator // n.denominator
    if n - whole >= Fraction(1, 2):
        whole += 1
    return -whole if x < 0 else whole


def build() -> dict[str, object]:
    requests = []
    for unit, fc, start, count in [
        (1, 4, 0, 76),  # SDM120/SDM630 one-block read (firmware/meter/regmap.py)
        (1, 4, 0, 2),
        (2, 4, 342, 4),
        (247, 4, 0xFFFF - 124, 125),
        (17, 3, 0xFC00, 2),
    ]:
        cls = ReadInputRegistersRequest if fc == 4 else ReadHoldingRegistersRequest
        requests.append({"unit": unit, "function": fc, "start": start, "count": count,
                         "frame": _frame(cls(address=start, count=count, dev_id=unit))})

    valid = []
    for unit, fc, regs in [
        (1, 4, [0x4366, 0x6666, 0x0000, 0xFFFF]),
        (1, 4, list(range(76))),
        (9, 3, [0xFC00, 0x1234]),
    ]:
        cls = ReadInputRegistersResponse if fc == 4 else ReadHoldingRegistersResponse
        data = b"".join(struct.pack(">H", r) for r in regs)
        valid.append({"unit": unit, "function": fc, "count": len(regs),
                      "frame": _frame(cls(registers=regs, dev_id=unit)), "data": data.hex()})

    invalid = []
    for code in (1, 2, 4, 6, 11):
        invalid.append({"name": f"exception_{code}", "unit": 1, "function": 4, "count": 2,
                        "frame": _frame(ExceptionResponse(4, code, device_id=1)),
                        "reason": "exception", "code": code})
    good = bytes.fromhex(valid[0]["frame"])
    flipped = bytearray(good)
    flipped[5] ^= 0x10
    invalid += [
        {"name": "crc_bit_flip", "unit": 1, "function": 4, "count": 4,
         "frame": bytes(flipped).hex(), "reason": "crc_mismatch", "code": 0},
        {"name": "other_unit", "unit": 2, "function": 4, "count": 4,
         "frame": good.hex(), "reason": "unexpected_unit", "code": 0},
        {"name": "other_function", "unit": 1, "function": 3, "count": 4,
         "frame": good.hex(), "reason": "unexpected_function", "code": 0},
        {"name": "byte_count_short", "unit": 1, "function": 4, "count": 5,
         "frame": good.hex(), "reason": "bad_length", "code": 0},
        {"name": "byte_count_lies", "unit": 1, "function": 4, "count": 4,
         "frame": _with_crc(bytes([1, 4, 6]) + good[3:9]), "reason": "bad_length", "code": 0},
    ]

    floats = []
    for value in [0.0, -0.0, 1.0, 230.1, 49.98, 0.999, -0.95, 12345.678, 1e-40, -2.5,
                  16777216.0, 3.4e38, 0.0005, 0.0015]:
        bits = struct.unpack(">I", struct.pack(">f", value))[0]
        exact = Fraction(struct.unpack(">f", struct.pack(">I", bits))[0])
        for scale in (1, 10, 100, 1000):
            floats.append({"bits": bits, "scale": scale,
                           "value": _round_half_away(exact * scale)})
    return {"format": "modbus rtu frames", "version": 1, "requests": requests,
            "responses": valid, "invalid": invalid, "float32": floats}


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale; regenerate it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
