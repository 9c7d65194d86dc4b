"""One Modbus line: a pymodbus server on a socat pty (RTU) or a TCP port.

A line carries one or more unit ids. One meter per line is what
:class:`EmulatedMeter` uses; several meters on one line is an RS-485 bus
(:class:`MeterBus`), where only the addressed slave answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymodbus.framer import FramerRTU, FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hardware.emulators.device import WireHooks
from hardware.emulators.faults import FaultPlan
from hardware.emulators.vport import VirtualSerialPair
from hardware.errors import EmulatorError

TRANSPORTS = ("rtu", "tcp")


@dataclass(frozen=True)
class SerialSettings:
    """What both ends of an RS-485 line must agree on."""

    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


class ModbusLine:
    """Owns the server (and for RTU the pty pair) for a set of emulated units."""

    def __init__(
        self,
        transport: str,
        units: dict[int, tuple[SimDevice, FaultPlan]],
        *,
        serial: SerialSettings,
        probe_address: int,
        host: str = "127.0.0.1",
        port: int | None = None,
        link_dir: str | None = None,
        name: str = "meter",
        strict_baud: bool = False,
    ) -> None:
        if transport not in TRANSPORTS:
            raise EmulatorError("bad_transport", f"transport must be one of {TRANSPORTS}")
        if not units:
            raise EmulatorError("no_units", "a line needs at least one unit")
        self.transport = transport
        self.units = units
        self.serial = serial
        self.probe_address = probe_address
        self.host = host
        self._port = port
        self._link_dir = link_dir
        self.name = name
        line_ok = self._baud_matches if strict_baud and transport == "rtu" else None
        self.hooks = WireHooks({uid: plan for uid, (_, plan) in units.items()}, transport == "rtu", line_ok)
        self.pair: VirtualSerialPair | None = None
        self._server: ModbusSerialServer | ModbusTcpServer | None = None
        self.address: str | None = None

    async def start(self) -> str:
        """Serve every unit; return the pty path or ``host:port`` once a request succeeds."""
        if self._server is not None:
            raise EmulatorError("already_started", "line is already running")
        devices = [device for device, _ in self.units.values()]
        # Catch-all device for other unit ids: its answers are dropped (RTU) or turned
        # into exception 0B (TCP) by the wire hooks, never served as data.
        devices.append(SimDevice(id=0, simdata=[SimData(0, values=0, datatype=DataType.REGISTERS)]))
        hooks = dict(trace_packet=self.hooks.trace_packet, trace_pdu=self.hooks.trace_pdu)
        try:
            if self.transport == "rtu":
                self.pair = await VirtualSerialPair(self._link_dir, name=self.name).start()
                s = self.serial
                self._server = ModbusSerialServer(
                    devices, framer=FramerType.RTU, port=str(self.pair.meter_path),
                    baudrate=s.baud, bytesize=s.bytesize, parity=s.parity, stopbits=s.stopbits, **hooks,
                )
            else:
                self._server = ModbusTcpServer(devices, address=(self.host, self._port or 0), **hooks)
            await self._server.serve_forever(background=True)
            if self.pair is not None:
                await self._probe(self.pair)
                self.address = str(self.pair.client_path)
            else:
                # Port 0 lets the kernel pick a free port; read back what was bound.
                port = self._server.transport.sockets[0].getsockname()[1]
                self.address = f"{self.host}:{port}"
        except (RuntimeError, OSError) as exc:
            await self.stop()
            raise EmulatorError("listen_failed", f"{self.transport}: {exc}") from exc
        except BaseException:
            await self.stop()
            raise
        return self.address

    async def stop(self) -> None:
        """Stop serving and remove the pty pair; safe to call twice."""
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self.pair is not None:
            await self.pair.stop()
            self.pair = None
        self.address = None

    def _baud_matches(self) -> bool:
        return self.pair is not None and self.pair.client_baud() == self.serial.baud

    async def _probe(self, pair: VirtualSerialPair) -> None:
        """Health check: read two holding registers of the first unit through the pty."""
        pair.set_client_baud(self.serial.baud)
        unit = next(iter(self.units))
        body = bytes([unit, 3]) + self.probe_address.to_bytes(2, "big") + (2).to_bytes(2, "big")
        frame = body + FramerRTU.compute_CRC(body).to_bytes(2, "big")
        answer = await pair.exchange(frame, expect_len=9)
        if answer[:3] != bytes([unit, 3, 4]) or not FramerRTU.check_CRC(
            answer[:-2], int.from_bytes(answer[-2:], "big")
        ):
            raise EmulatorError("probe_failed", f"unexpected answer {answer.hex()}")
