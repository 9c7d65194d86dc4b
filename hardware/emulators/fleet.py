"""Start and stop N emulated meters together (one line each, or one shared bus)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware.emulators.bus import MeterBus
from hardware.emulators.meter import EmulatedMeter, Endpoint
from hardware.profiles.site import prosumer_site
from hardware.registers.model import load_model


@dataclass(frozen=True)
class MeterSpec:
    """Everything needed to build one :class:`EmulatedMeter` of a fleet."""

    model: str = "sdm120"
    transport: str = "rtu"
    unit_id: int | None = None
    seed: int = 1
    acceleration: float = 1.0
    start_s: float = 0.0
    port: int | None = None
    faults: dict[str, int | None] = field(default_factory=dict)
    wire_timing: bool = True
    strict_baud: bool = False
    #: site profile knobs (see hardware.profiles.prosumer_site)
    peak_pv_w: float | None = None
    cloud_cover: float = 0.3
    ev: bool = True


class MeterFleet:
    """N meters, each on its own line, or all on one shared line (``bus=True``).

    Meters start in order and stop in reverse; a partial start is undone. On a bus
    every meter must have its own unit id and the transport/port of the first spec
    is used for the shared line.
    """

    def __init__(self, specs: list[MeterSpec], link_dir: str | None = None, bus: bool = False) -> None:
        self.specs = specs
        self.link_dir = link_dir
        self.bus_mode = bus
        self.bus: MeterBus | None = None
        self.meters: list[EmulatedMeter] = []

    def _build(self, index: int, spec: MeterSpec) -> EmulatedMeter:
        phases = load_model(spec.model).phases
        site = prosumer_site(seed=spec.seed, phases=phases, cloud_cover=spec.cloud_cover,
                             ev=spec.ev, peak_pv_w=spec.peak_pv_w)
        return EmulatedMeter(
            site=site, model=spec.model, transport=spec.transport, unit_id=spec.unit_id,
            seed=spec.seed, acceleration=spec.acceleration, start_s=spec.start_s,
            port=spec.port, faults=spec.faults, wire_timing=spec.wire_timing,
            strict_baud=spec.strict_baud, link_dir=self.link_dir, name=f"meter{index}",
        )

    async def start(self) -> list[Endpoint]:
        """Start every meter; return one endpoint per meter (shared address on a bus)."""
        try:
            if self.bus_mode:
                meters = [self._build(i, spec) for i, spec in enumerate(self.specs)]
                first = self.specs[0]
                self.bus = MeterBus(meters, transport=first.transport, port=first.port,
                                    link_dir=self.link_dir, wire_timing=first.wire_timing,
                                    strict_baud=first.strict_baud)
                await self.bus.start()
                self.meters = meters
                for spec, meter in zip(self.specs, meters):
                    for name, count in spec.faults.items():
                        meter.inject(name, count)
            else:
                for index, spec in enumerate(self.specs):
                    meter = self._build(index, spec)
                    await meter.start()
                    self.meters.append(meter)
        except BaseException:
            await self.stop()
            raise
        return self.endpoints

    @property
    def endpoints(self) -> list[Endpoint]:
        if self.bus is not None and self.bus.address is not None:
            return [Endpoint(self.bus.transport, self.bus.address, m.unit_id, m.model.model, m.model.baud)
                    for m in self.meters]
        return [m.endpoint for m in self.meters if m.endpoint is not None]

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
            self.bus = None
            self.meters = []
        while self.meters:
            await self.meters.pop().stop()

    async def __aenter__(self) -> MeterFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
