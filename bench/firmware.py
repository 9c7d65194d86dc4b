"""Firmware benchmark on the MicroPython unix port with the heap capped at 64 KB.

    .venv/bin/python -m bench            (the bench runner imports this module)
    .venv/bin/python -m bench.firmware   (this benchmark alone, JSON output)

Measures, with the firmware compiled by mpy-cross exactly as deployed:

- ``firmware.sign_ms``: one Ed25519 signature over a real reading payload.
- ``firmware.cycle_ms``: one full read-sign-store-publish cycle (Modbus block
  read from an emulated SDM630 on a pty, Ed25519 signature, durable ring
  write, QoS 1 publish to a real mosquitto and its PUBACK). The emulator's
  9600-baud wire delay is switched off, so this is the firmware's own cost;
  ``firmware.read_ms`` .. ``firmware.publish_ms`` break it down.
- ``firmware.peak_heap_bytes``: the smallest ``-X heapsize`` (1 KB steps) with
  which the firmware boots and completes two full cycles -- the heap the
  firmware really needs, including fragmentation. The unix port is 64-bit, so
  every object and pointer is about twice its size on the 32-bit ESP32.
- ``firmware.static_heap_bytes``: live heap after boot (code, config, key, ring).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from hardware.emulators import EmulatedMeter
from tests.support.firmware import build_firmware, run_firmware, write_config
from tests.support.mosquitto import MosquittoBroker

UNITS = {
    "firmware.sign_ms": "ms",
    "firmware.cycle_ms": "ms",
    "firmware.read_ms": "ms",
    "firmware.store_ms": "ms",
    "firmware.publish_ms": "ms",
    "firmware.peak_heap_bytes": "bytes",
    "firmware.static_heap_bytes": "bytes",
}

GOALS = {
    "firmware.peak_heap_bytes": "goal <= 49152 (48 KB); must fit the 64 KB test cap",
    "firmware.cycle_ms": "well under the 60 s reading interval",
}

CYCLES = 10

# Boots like main.py, then times the phases of CYCLES cycles.
_CYCLE_SCRIPT = """
import gc, sys, time
import start
a = start.boot()
del start
sys.modules.pop("start")
from signing.envelope import reading_payload
from version import FW_VERSION
cfg = a.cfg
signer = a.signer
a.service_uplink()
gc.collect()
print("B static %d" % gc.mem_alloc())
tot = [0, 0, 0, 0, 0]
for i in range(CYCLES):
    t0 = time.ticks_us()
    values = a.read_meter()
    t1 = time.ticks_us()
    seq = a.ring.last_seq + 1
    ts, valid = a.clock.now()
    payload = reading_payload(cfg.meter_id, seq, ts, valid, cfg.interval_s, values, FW_VERSION)
    sig = signer.sign(payload)
    t2 = time.ticks_us()
    a.ring.append(seq, payload, sig)
    t3 = time.ticks_us()
    sent = a.uplink.service()
    t4 = time.ticks_us()
    assert sent == 1 and a.ring.pending_count() == 0
    for k, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
        tot[k] += d
a.uplink.close()
print("B times %d %d %d %d %d" % tuple(tot))
"""


def _ms(total_us: int) -> float:
    return round(total_us / CYCLES / 1000, 2)


async def _measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gtx-bench-fw-") as tmp_name:
        tmp = Path(tmp_name)
        fw = build_firmware(tmp / "build")
        with MosquittoBroker(tmp / "mqtt") as broker:
            async with EmulatedMeter(model="sdm630", seed=11, acceleration=60, start_s=12 * 3600,
                                     wire_timing=False) as meter:

                def config(name: str) -> Path:
                    data = tmp / name
                    write_config(data, meter_id="mtr-bench", host=broker.host, port=broker.port,
                                 device=meter.port, model="sdm630")
                    return data

                res = (await run_firmware(fw, config("cycle"), 0,
                                          script=f"CYCLES = {CYCLES}\n" + _CYCLE_SCRIPT)).check()
                static = int(res.lines("B static ")[0])
                read, sign, store, publish, cycle = map(int, res.lines("B times ")[0].split())

                # Smallest heap that boots and completes two full cycles.
                lo, hi = 32, 64
                ok64 = await run_firmware(fw, config("heap64"), 2, heap="64K")
                if ok64.returncode != 0:
                    raise RuntimeError("firmware does not run in a 64 KB heap:\n" + ok64.stdout)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    r = await run_firmware(fw, config(f"heap{mid}"), 2, heap=f"{mid}K")
                    if r.returncode == 0:
                        hi = mid
                    else:
                        lo = mid
    return {
        "firmware.sign_ms": _ms(sign),
        "firmware.cycle_ms": _ms(cycle),
        "firmware.read_ms": _ms(read),
        "firmware.store_ms": _ms(store),
        "firmware.publish_ms": _ms(publish),
        "firmware.peak_heap_bytes": float(hi * 1024),
        "firmware.static_heap_bytes": float(static),
    }


def run() -> dict[str, float]:
    """Bench-runner entry point: flat metric name -> number (see UNITS)."""
    return asyncio.run(_measure())


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()
