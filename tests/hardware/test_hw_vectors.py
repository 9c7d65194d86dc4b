"""Golden Modbus RTU vectors: self-consistent, decodable with the generated regmap,
and byte-identical to what the emulator puts on the wire where values are fixed."""

from __future__ import annotations

import json
import runpy
import struct
from pathlib import Path

import pytest
from hwsupport import RawRtuPort, crc16_modbus, crc_ok

from hardware.emulators import EmulatedMeter, ManualClock

REPO = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO / "hardware" / "vectors" / "modbus_rtu_v1.json").read_text())
REGMAP = runpy.run_path(str(REPO / "firmware" / "meter" / "regmap.py"))["MODELS"]


@pytest.mark.parametrize("model", sorted(VECTORS["models"]))
def test_vectors_decode_with_regmap(model):
    v = {k: bytes.fromhex(x) if isinstance(x, str) else x for k, x in VECTORS["models"][model].items()}
    m = REGMAP[model]
    assert v["request"] == v["request"][:2] + struct.pack(">HH", m["block_start"], m["block_count"]) + v["request"][6:]
    for name in ("request", "response", "exception_illegal_address", "exception_busy"):
        assert crc_ok(v[name]), name
    assert not crc_ok(v["response_bad_crc"]) and len(v["response_bad_crc"]) == len(v["response"])
    resp = v["response"]
    assert resp[:3] == bytes([m["unit_id"], 4, 2 * m["block_count"]])
    for field, offset in m["fields"].items():
        value = struct.unpack(">f", resp[3 + 2 * offset: 7 + 2 * offset])[0]
        assert value == VECTORS["fields"][field], field


@pytest.mark.parametrize("model", sorted(VECTORS["models"]))
async def test_emulator_speaks_the_vectors(model):
    v = {k: bytes.fromhex(x) if isinstance(x, str) else x for k, x in VECTORS["models"][model].items()}
    async with EmulatedMeter(model=model, clock=ManualClock(0), wire_timing=False) as meter:
        port = RawRtuPort(meter.port)
        try:
            answer = await port.transact(v["request"])
            assert crc_ok(answer) and len(answer) == len(v["response"]) and answer[:3] == v["response"][:3]
            meter.inject("busy", count=1)
            assert await port.transact(v["request"]) == v["exception_busy"]
            illegal = v["request"][:2] + struct.pack(">HH", 0x0400, 2)
            illegal += crc16_modbus(illegal).to_bytes(2, "little")
            assert await port.transact(illegal) == v["exception_illegal_address"]
        finally:
            port.close()
