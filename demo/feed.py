"""Live progress: the aggregator's records as they appear, and the firmware's console.

Readings are shown as the aggregator stores them, mint batches as they are confirmed (with
the energy they turned into GRID and their transaction), both polled from the REST API;
the firmware's own output (key, uplink, status LED) is echoed as it runs on the
MicroPython interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from common.wire import WH_PER_KWH

__all__ = ["Progress", "echo_lines", "grid", "hhmm"]


def grid(wh: int) -> str:
    """Watt-hours as GRID (1 GRID = 1 kWh = 1,000 base units)."""
    return f"{wh / WH_PER_KWH:,.3f} GRID"


def hhmm(t_s: float) -> str:
    """Simulated seconds since midnight as HH:MM."""
    minutes = int(t_s // 60)
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


class Progress:
    """Prints a meter's readings as they are stored and its mint batches as they are confirmed.

    Polls ``/api/meters/{id}/readings`` and ``/api/mints`` (the aggregator's WebSocket
    ``/api/events`` carries the same news, but a subscriber that disconnects keeps its
    handler waiting until the next event, which holds up a graceful server shutdown).
    ``sim_now`` gives the emulated meter's simulated time of day (seconds since midnight).
    """

    def __init__(self, client: httpx.AsyncClient, meter_id: str, sim_now: Callable[[], float],
                 poll_s: float = 0.1) -> None:
        self.client = client
        self.meter_id = meter_id
        self.sim_now = sim_now
        self.poll_s = poll_s
        self.readings: dict[int, dict[str, Any]] = {}  # seq -> stored reading
        self.batches: dict[int, dict[str, Any]] = {}  # id -> confirmed mint batch
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Progress:
        self._task = asyncio.create_task(self._run(), name="gtx-demo-progress")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll(self) -> None:
        """Print what is new since the last poll."""
        readings = await self.client.get(f"/api/meters/{self.meter_id}/readings", params={"limit": 1000})
        mints = await self.client.get("/api/mints", params={"meter_id": self.meter_id, "limit": 1000})
        for r in sorted(readings.json(), key=lambda r: r["seq"]):
            if r["seq"] not in self.readings:
                self.readings[r["seq"]] = r
                self._reading(r)
        for b in sorted(mints.json(), key=lambda b: b["id"]):
            if b["state"] == "confirmed" and b["id"] not in self.batches:
                self.batches[b["id"]] = b
                self._mint(b)

    async def _run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.poll_s)

    def _reading(self, r: dict[str, Any]) -> None:
        clock = f"meter clock {hhmm(self.sim_now())}  "
        baseline = r["seq"] == 1 and r["production_wh"] == r["consumption_wh"] == 0
        what = ("baseline (first reading: no energy yet)" if baseline
                else f"+{r['production_wh']:,} Wh exported, +{r['consumption_wh']:,} Wh imported")
        print(f"   reading  seq {r['seq']:<3} {clock}export {r['exp_wh']:>7,} Wh  import {r['imp_wh']:>6,} Wh  "
              f"power {r['power_w']:>6,} W  {what}  [{r['transport']}]", flush=True)

    def _mint(self, b: dict[str, Any]) -> None:
        minted, tx = b["minted_wh"] or 0, b["tx_signature"]
        n = f"{b['reading_count']} reading{'s' if b['reading_count'] != 1 else ''}"
        if not minted and not tx:
            print(f"   mint     batch {b['id']} ({n}): nothing to mint (baseline, no export)", flush=True)
            return
        sig = f"  tx {str(tx)[:24]}..." if tx else ""
        print(f"   mint     batch {b['id']} ({n}): {minted:,} Wh -> {grid(minted)} to the owner{sig}", flush=True)


async def echo_lines(stream: asyncio.StreamReader, prefix: str, keep: list[str]) -> None:
    """Print each line of a child's output with ``prefix`` and keep it (for error reports)."""
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        keep.append(text)
        print(f"{prefix}{text}", flush=True)
