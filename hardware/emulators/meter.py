"""One emulated meter served over Modbus RTU (socat pty) or Modbus TCP.

Usage (inside a running event loop)::

    async with EmulatedMeter(model="sdm120", transport="rtu", acceleration=3600) as meter:
        meter.port          # the pty a client opens, e.g. /tmp/gtx-pty-x/meter
        meter.inject("timeout", count=2)

The meter runs in the caller's event loop (pymodbus servers are asyncio), so a test
can inject faults and look at the counters between requests without any IPC.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pymodbus.simulator import SimDevice

from hardware.emulators.clock import AcceleratedClock, SimClock
from hardware.emulators.device import MeterDevice
from hardware.emulators.faults import RESPONSE_FAULTS, FaultKind, FaultPlan
from hardware.emulators.line import TRANSPORTS, ModbusLine, SerialSettings
from hardware.emulators.state import MeterState
from hardware.errors import EmulatorError, FaultError
from hardware.profiles.site import SiteProfile, prosumer_site
from hardware.registers.model import MeterModel, load_model


@dataclass(frozen=True)
class Endpoint:
    """Where a client reaches the meter."""

    transport: str
    #: pty path for RTU, ``host:port`` for TCP
    address: str
    unit_id: int
    model: str
    baud: int

    def describe(self) -> str:
        extra = f" baud={self.baud}" if self.transport == "rtu" else ""
        return f"{self.model} unit={self.unit_id} {self.transport} {self.address}{extra}"


class EmulatedMeter:
    """An SDM-class meter on the wire, driven by a deterministic site profile.

    Parameters are keyword-only; defaults give a single-phase prosumer (seed 1) at the
    model's default unit id, 1x real time. ``clock`` overrides ``acceleration`` /
    ``start_s`` (use :class:`ManualClock` for exact-instant tests). ``wire_timing``
    delays each RTU response by the time its bytes would take at the model's baud
    rate (a pty has no baud rate of its own). ``strict_baud`` makes the meter ignore
    requests while the client's end of the pty is set to another baud rate, as a
    real meter sees only framing errors then (off by default: some clients never set
    a speed on a pty).
    """

    def __init__(
        self,
        *,
        model: str | MeterModel = "sdm120",
        transport: str = "rtu",
        unit_id: int | None = None,
        site: SiteProfile | None = None,
        seed: int = 1,
        acceleration: float = 1.0,
        start_s: float = 0.0,
        stop_s: float | None = None,
        clock: SimClock | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        serial_number: int | None = None,
        initial_import_kwh: float = 0.0,
        initial_export_kwh: float = 0.0,
        faults: dict[str, int | None] | None = None,
        wire_timing: bool = True,
        strict_baud: bool = False,
        link_dir: str | None = None,
        name: str | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise EmulatorError("bad_transport", f"transport must be one of {TRANSPORTS}")
        self.model = model if isinstance(model, MeterModel) else load_model(model)
        self.transport = transport
        self.unit_id = self.model.unit_id if unit_id is None else unit_id
        if not 1 <= self.unit_id <= 247:
            raise EmulatorError("bad_unit_id", f"unit id {self.unit_id} not in 1..247")
        self.site = site or prosumer_site(seed=seed, phases=self.model.phases)
        self.clock = clock or AcceleratedClock(acceleration, start_s=start_s, stop_s=stop_s)
        self.host = host
        self._port = port
        self.wire_timing = wire_timing and transport == "rtu"
        self.strict_baud = strict_baud
        self._link_dir = link_dir
        self.name = name or f"{self.model.model}-u{self.unit_id}"
        self.plan = FaultPlan()
        self.state = MeterState(
            self.model, self.site, self.clock,
            unit_id=self.unit_id,
            serial_number=serial_number if serial_number is not None else 24_000_000 + self.unit_id * 1_000 + seed,
            initial_import_kwh=initial_import_kwh,
            initial_export_kwh=initial_export_kwh,
        )
        self.device = MeterDevice(self.model, self.state, self.plan)
        self.line: ModbusLine | None = None
        self.endpoint: Endpoint | None = None
        self._initial_faults: dict[FaultKind, int | None] = {}
        for fault, count in (faults or {}).items():
            try:
                kind = FaultKind(fault)
            except ValueError as exc:
                raise FaultError("unknown_fault", f"{fault!r}") from exc
            if count is not None and count < 1:
                raise FaultError("bad_count", f"{fault}: count must be >= 1 or None")
            self._initial_faults[kind] = count

    # ------------------------------------------------------------------ lifecycle
    @property
    def serial_settings(self) -> SerialSettings:
        m = self.model
        return SerialSettings(m.baud, m.bytesize, m.parity, m.stopbits)

    def go_live(self) -> None:
        """Start the simulated clock and integrate from now (called when serving starts)."""
        if isinstance(self.clock, AcceleratedClock):
            self.clock.restart()
        self.state.rebase()

    def sim_device(self, wire_timing: bool | None = None) -> SimDevice:
        """This meter as a pymodbus ``SimDevice`` (what a line or a bus serves)."""
        device = self.device.sim_device()
        if self.wire_timing if wire_timing is None else wire_timing:
            device.action = self._timed_action
        return device

    async def start(self) -> EmulatedMeter:
        """Create the port, start serving, return once a request has been answered."""
        if self.line is not None:
            raise EmulatorError("already_started", "meter is already running")
        self.go_live()
        line = ModbusLine(
            self.transport, {self.unit_id: (self.sim_device(), self.plan)},
            serial=self.serial_settings, probe_address=self.model.serial_range[0],
            host=self.host, port=self._port, link_dir=self._link_dir, name=self.name,
            strict_baud=self.strict_baud,
        )
        address = await line.start()
        self.line = line
        self.endpoint = Endpoint(self.transport, address, self.unit_id, self.model.model, self.model.baud)
        for kind, count in self._initial_faults.items():
            self.inject(kind, count)
        return self

    async def stop(self) -> None:
        """Stop serving and remove the pty pair; safe to call twice."""
        if self.line is not None:
            await self.line.stop()
            self.line = None
        self.endpoint = None

    async def __aenter__(self) -> EmulatedMeter:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ access
    @property
    def port(self) -> str:
        """pty path (RTU) or ``host:port`` (TCP) a client connects to."""
        if self.endpoint is None:
            raise EmulatorError("not_started", "start the meter first")
        return self.endpoint.address

    @property
    def tcp_port(self) -> int:
        if self.transport != "tcp":
            raise EmulatorError("not_tcp", "meter is not on TCP")
        return int(self.port.rsplit(":", 1)[1])

    # ------------------------------------------------------------------ faults
    def inject(self, fault: str | FaultKind, count: int | None = None) -> None:
        """Inject a fault now (see :mod:`hardware.emulators.faults` for the kinds).

        Response faults (timeout, garble, busy) apply to the next ``count`` responses,
        or all until :meth:`clear` when ``count`` is None. ``stuck`` lasts until cleared;
        ``counter_reset`` and ``replace`` happen once, immediately.
        """
        try:
            kind = FaultKind(fault)
        except ValueError as exc:
            raise FaultError("unknown_fault", f"{fault!r}") from exc
        if kind in RESPONSE_FAULTS:
            self.plan.arm(kind, count)
        elif kind is FaultKind.STUCK:
            self.state.advance()
            self.state.stuck = True
        elif kind is FaultKind.COUNTER_RESET:
            self.state.reset_counters()
        else:
            self.state.replace(self.state.serial_number + 1_000_003)

    def clear(self, fault: str | FaultKind | None = None) -> None:
        """Clear one fault kind, or all (``None``); counters resume from where they are."""
        kind = None if fault is None else FaultKind(fault)
        if kind is None or kind is FaultKind.STUCK:
            self.state.advance()
            self.state.stuck = False
        if kind is None:
            self.plan.clear()
        elif kind in RESPONSE_FAULTS:
            self.plan.clear(kind)

    # ------------------------------------------------------------------ timing
    async def _timed_action(self, function_code, start_address, address, count, registers, set_values):
        """Hold the response for the request + response wire time at the model's baud."""
        request_bytes = 8 if set_values is None else 9 + 2 * len(set_values)
        response_bytes = 5 + 2 * count
        # 11 bit times per byte (start, 8 data, parity-or-stop, stop) plus 3.5 chars of
        # inter-frame silence on each side.
        wire_s = (request_bytes + response_bytes + 7) * 11 / self.model.baud
        await asyncio.sleep(wire_s)
        return await self.device.action(function_code, start_address, address, count, registers, set_values)
