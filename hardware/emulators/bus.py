"""Several emulated meters on one line: an RS-485 bus, or a Modbus TCP gateway in front of one.

On a real bus the master addresses each meter by unit id and only that meter
answers; all meters share one baud rate. ``MeterBus`` serves the meters'
``SimDevice``s from one pymodbus server, so a gateway that polls a multi-drop line
(or a TCP gateway's unit ids) is tested against the same wire behaviour, with faults
injected per meter::

    meters = [EmulatedMeter(model="sdm120", unit_id=u, seed=u) for u in (1, 2, 3)]
    async with MeterBus(meters) as bus:
        bus.port                      # one pty for all three
        meters[1].inject("timeout")   # only unit 2 goes quiet
"""

from __future__ import annotations

from hardware.emulators.line import ModbusLine
from hardware.emulators.meter import EmulatedMeter
from hardware.errors import EmulatorError


class MeterBus:
    """Meters sharing one pty (``transport="rtu"``) or one TCP port (``"tcp"``)."""

    def __init__(
        self,
        meters: list[EmulatedMeter],
        *,
        transport: str = "rtu",
        host: str = "127.0.0.1",
        port: int | None = None,
        link_dir: str | None = None,
        name: str = "bus",
        wire_timing: bool = True,
        strict_baud: bool = False,
    ) -> None:
        if not meters:
            raise EmulatorError("no_units", "a bus needs at least one meter")
        ids = [m.unit_id for m in meters]
        if len(set(ids)) != len(ids):
            raise EmulatorError("duplicate_unit_id", f"unit ids on one bus must differ: {ids}")
        settings = {m.serial_settings for m in meters}
        if len(settings) != 1:
            raise EmulatorError("bus_mismatch", f"meters on one bus need one serial setting: {settings}")
        self.meters = meters
        self.transport = transport
        self.serial_settings = next(iter(settings))
        self._line = ModbusLine(
            transport,
            {m.unit_id: (m.sim_device(wire_timing and transport == "rtu"), m.plan) for m in meters},
            serial=settings.pop(), probe_address=meters[0].model.serial_range[0],
            host=host, port=port, link_dir=link_dir, name=name, strict_baud=strict_baud,
        )
        self.address: str | None = None

    @property
    def port(self) -> str:
        """pty path (RTU) or ``host:port`` (TCP) shared by every meter on the bus."""
        if self.address is None:
            raise EmulatorError("not_started", "start the bus first")
        return self.address

    @property
    def tcp_port(self) -> int:
        if self.transport != "tcp":
            raise EmulatorError("not_tcp", "bus is not on TCP")
        return int(self.port.rsplit(":", 1)[1])

    async def start(self) -> MeterBus:
        for meter in self.meters:
            meter.go_live()
        self.address = await self._line.start()
        return self

    async def stop(self) -> None:
        await self._line.stop()
        self.address = None

    async def __aenter__(self) -> MeterBus:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
