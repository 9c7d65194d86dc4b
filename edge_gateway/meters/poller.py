"""Poll meters wired to the Pi, sign their readings with the gateway's key, queue them.

Every ``interval_s``, per meter, as the firmware does on a meter node:

1. one read-input-registers request for the model's whole block
   (``hardware.registers`` ``MeterModel.firmware_block``): all values from one instant;
2. the float32 registers become the envelope's integers (:mod:`.convert`, the
   firmware's exact rule);
3. a v1 reading with the meter's next ``seq`` (kept in the outbox database), ``ts``
   from the Pi's clock and ``clk=1``, signed with ``common.envelope.sign_envelope``;
4. stored in the outbox on ``reading_topic(meter_id)`` in the same transaction that
   takes the sequence number; the egress relays it like any meter node's reading.

A failed poll (no connection, no answer, an exception response, a value that cannot
be a reading, a full outbox) is logged with its reason, counted
(``gtx_gw_direct_read_errors_total{meter,reason}``) and produces nothing; the next
interval tries again. Energy is cumulative, so a skipped interval loses no energy.
An outbox write failure (the disk) is not a poll error: it ends the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from common.envelope import reading_topic, sign_envelope
from edge_gateway.config import RtuMeter, TcpMeter
from edge_gateway.errors import MeterError, OutboxFull
from edge_gateway.meters.convert import decode_block
from edge_gateway.meters.modbus import ModbusLine
from edge_gateway.ops.logs import fields
from edge_gateway.ops.metrics import Telemetry
from edge_gateway.storage.outbox import Outbox

__all__ = ["FW_VERSION", "DirectMeterPoller"]

log = logging.getLogger("edge_gateway.meters")

#: The envelope's ``fw`` for readings the gateway builds: the software that made them.
FW_VERSION = "gw-1.0.0"

#: Unix time before which the Pi's clock is not trusted (a Pi has no RTC and starts
#: near 1970 until NTP sets it); such readings carry ts=0, clk=0, as on a meter node.
CLOCK_VALID_AFTER_S = 1_704_067_200  # 2024-01-01T00:00:00Z


class DirectMeterPoller:
    """One task per meter; meters on the same line share one Modbus client."""

    def __init__(self, meters: Sequence[TcpMeter | RtuMeter], outbox: Outbox, telemetry: Telemetry, *,
                 signing_seed: bytes, stored: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.meters = list(meters)
        self.outbox = outbox
        self.telemetry = telemetry
        self._seed = signing_seed
        self._stored = stored  # wakes the egress
        self._clock = clock
        self._lines: dict[tuple[str, ...], ModbusLine] = {}
        for meter in self.meters:
            if meter.line not in self._lines:
                self._lines[meter.line] = ModbusLine(meter)
            telemetry.direct_meter(meter.meter_id)

    async def run(self) -> None:
        """Poll every meter until cancelled; closes the Modbus clients on the way out."""
        try:
            async with asyncio.TaskGroup() as group:
                for meter in self.meters:
                    group.create_task(self._poll_forever(meter), name=f"poll-{meter.meter_id}")
        finally:
            for line in self._lines.values():
                line.close()

    async def _poll_forever(self, meter: TcpMeter | RtuMeter) -> None:
        log.info("polling direct meter", extra=fields(
            meter=meter.meter_id, model=meter.model, transport=meter.transport,
            line=self._lines[meter.line].name, unit=meter.unit_id, interval_s=meter.interval_s))
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.poll_once(meter)
            # Fixed ticks on the monotonic clock; ticks missed by a slow read are skipped,
            # never made up in a burst.
            next_at += meter.interval_s
            now = loop.time()
            if next_at < now:
                next_at += ((now - next_at) // meter.interval_s + 1) * meter.interval_s
            await asyncio.sleep(next_at - now)

    async def poll_once(self, meter: TcpMeter | RtuMeter) -> int | None:
        """One interval: read, convert, sign, store. The stored seq, or None if it failed."""
        block = meter.register_map.firmware_block
        try:
            raw = await self._lines[meter.line].read_block(meter.unit_id, block.start, block.count)
            values = decode_block(raw, block.offsets)
            ts = int(self._clock())
            clk = 1 if ts >= CLOCK_VALID_AFTER_S else 0

            def build(seq: int) -> bytes:
                return sign_envelope(self._seed, {
                    "kind": "reading", "meter": meter.meter_id, "seq": seq, "ts": ts if clk else 0,
                    "clk": clk, "int_s": meter.interval_s, **values, "fw": FW_VERSION})

            try:
                seq = await asyncio.to_thread(
                    self.outbox.append_own, meter.meter_id, reading_topic(meter.meter_id), build)
            except OutboxFull as exc:
                raise MeterError("outbox_full", str(exc)) from exc
        except MeterError as exc:
            self.telemetry.direct_error(meter.meter_id, exc.reason, exc.detail)
            log.warning("direct meter read failed", extra=fields(
                meter=meter.meter_id, reason=exc.reason, detail=exc.detail))
            return None
        self._stored()
        self.telemetry.direct_reading(meter.meter_id)
        log.debug("direct meter reading stored", extra=fields(meter=meter.meter_id, seq=seq))
        return seq
