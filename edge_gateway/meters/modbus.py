"""One Modbus line (a serial device or a TCP endpoint) shared by the meters on it.

Protocol only, no policy: :meth:`ModbusLine.read_block` issues one read-input-registers
request and returns the raw bytes, or raises :class:`~edge_gateway.errors.MeterError`
with a stable reason. Retrying is the poller's business (the next interval), so the
pymodbus client runs with ``retries=0`` and without its own reconnect loop; a closed
or never-opened connection is opened again at the next read.

Meters on one RS-485 bus (or behind one TCP converter) share the line; a lock keeps
one request on the wire at a time, as a Modbus master must.
"""

from __future__ import annotations

import asyncio

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from edge_gateway.config import RtuMeter, TcpMeter
from edge_gateway.errors import MeterError
from edge_gateway.meters.convert import registers_to_bytes

__all__ = ["ModbusLine"]


class ModbusLine:
    """A pymodbus async client for the line ``meter`` is on (TCP or RTU)."""

    def __init__(self, meter: TcpMeter | RtuMeter) -> None:
        self.name = ":".join(meter.line[1:])
        self._lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient
        # reconnect_delay=0: no background reconnect task; read_block reconnects on demand.
        if isinstance(meter, TcpMeter):
            self._client = AsyncModbusTcpClient(
                meter.host, port=meter.port, timeout=meter.timeout_s, retries=0, reconnect_delay=0)
        else:
            baud, parity, stopbits = meter.serial
            self._client = AsyncModbusSerialClient(
                meter.device, baudrate=baud, parity=parity, stopbits=stopbits,
                bytesize=meter.register_map.bytesize, timeout=meter.timeout_s, retries=0, reconnect_delay=0)

    async def read_block(self, unit_id: int, start: int, count: int) -> bytes:
        """Registers ``start .. start+count-1`` of ``unit_id`` in one request, as wire bytes."""
        async with self._lock:
            if not self._client.connected and not await self._client.connect():
                raise MeterError("connect_failed", f"cannot open {self.name}")
            try:
                response = await self._client.read_input_registers(start, count=count, device_id=unit_id)
            except ConnectionException as exc:
                self._client.close()  # reopened at the next read
                raise MeterError("connect_failed", f"{self.name}: {exc}") from exc
            except ModbusException as exc:
                # No answer in time, or only frames that fail the CRC / transaction check.
                raise MeterError("no_response", f"{self.name} unit {unit_id}: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            raise MeterError("modbus_exception", f"{self.name} unit {unit_id}: exception code {code}")
        if len(response.registers) != count:
            raise MeterError("short_block", f"{self.name} unit {unit_id}: {len(response.registers)} of {count}")
        return registers_to_bytes(response.registers)

    def close(self) -> None:
        self._client.close()
