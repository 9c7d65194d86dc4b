"""Emulated Modbus meters for the gateway tests, served from their own event loop.

The gateway tests are synchronous (the gateway is a child process and the waits
poll its /healthz), so the emulators run on an asyncio loop in a thread; faults and
clock moves are handed to that loop with :meth:`EmulatorThread.call`.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from common import meter_values as fw_reading
from hardware.emulators import EmulatedMeter
from pymodbus.client import AsyncModbusTcpClient

__all__ = ["EmulatorThread", "direct_meter_toml", "firmware_values", "wh"]

T = TypeVar("T")


class EmulatorThread:
    """Starts :class:`EmulatedMeter` instances on a private loop; ``close()`` stops them all."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="emulators", daemon=True)
        self._thread.start()
        self.meters: list[EmulatedMeter] = []

    def _run(self, factory: Callable[[], Any], timeout_s: float = 20.0) -> Any:
        async def go() -> Any:
            result = factory()
            return await result if asyncio.iscoroutine(result) else result
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout_s)

    def start(self, **kwargs: Any) -> EmulatedMeter:
        meter: EmulatedMeter = self._run(lambda: EmulatedMeter(**kwargs).start())
        self.meters.append(meter)
        return meter

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulators' loop (between two requests, never during one)."""
        return self._run(fn)  # type: ignore[no-any-return]

    def read_block(self, meter: EmulatedMeter, start: int, count: int) -> bytes:
        """The block as a second Modbus TCP client sees it (TCP serves several clients)."""
        async def read() -> bytes:
            client = AsyncModbusTcpClient("127.0.0.1", port=meter.tcp_port, timeout=2, retries=0)
            assert await client.connect()
            try:
                resp = await client.read_input_registers(start, count=count, device_id=meter.unit_id)
                assert not resp.isError(), resp
                return b"".join(w.to_bytes(2, "big") for w in resp.registers)
            finally:
                client.close()
        return self._run(read)  # type: ignore[no-any-return]

    def close(self) -> None:
        for meter in self.meters:
            self._run(meter.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def direct_meter_toml(meter_id: str, meter: EmulatedMeter, *, interval_s: int = 1, timeout_s: float = 0.4) -> str:
    """One ``[[direct_meters]]`` table reaching ``meter`` over its own transport."""
    where = (f'host = "127.0.0.1"\nport = {meter.tcp_port}\n' if meter.transport == "tcp"
             else f'device = "{meter.port}"\n')
    return (f'[[direct_meters]]\nmeter_id = "{meter_id}"\nmodel = "{meter.model.model}"\n'
            f'transport = "{meter.transport}"\nslave_id = {meter.unit_id}\n{where}'
            f"interval_s = {interval_s}\ntimeout_s = {timeout_s}\n")


def wh(kwh: float) -> int:
    """What a counter register holding ``kwh`` reads as, by the firmware's own rule."""
    bits = struct.unpack(">I", struct.pack(">f", kwh))[0]
    return int(fw_reading.scaled_f32(bits, 1000))


def firmware_values(block: bytes, offsets: dict[str, int]) -> dict[str, int]:
    """The reading values the ESP32 firmware would build from the same register block."""
    return dict(fw_reading.decode_block(block, offsets))
