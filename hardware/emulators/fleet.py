"""Start and stop N emulated meters together (one pty or TCP port each)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """N meters started in order and stopped in reverse; partial starts are undone."""

    def __init__(self, specs: list[MeterSpec], link_dir: str | None = None) -> None:
        self.specs = specs
        self.link_dir = link_dir
        self.meters: list[EmulatedMeter] = []

    async def start(self) -> list[Endpoint]:
        try:
            for index, spec in enumerate(self.specs):
                phases = load_model(spec.model).phases
                site = prosumer_site(seed=spec.seed, phases=phases, cloud_cover=spec.cloud_cover,
                                     ev=spec.ev, peak_pv_w=spec.peak_pv_w)
                meter = EmulatedMeter(
                    site=site,
                    model=spec.model, transport=spec.transport, unit_id=spec.unit_id,
                    seed=spec.seed, acceleration=spec.acceleration, start_s=spec.start_s,
                    port=spec.port, faults=spec.faults, wire_timing=spec.wire_timing,
                    strict_baud=spec.strict_baud,
                    link_dir=self.link_dir, name=f"meter{index}",
                )
                await meter.start()
                self.meters.append(meter)
        except BaseException:
            await self.stop()
            raise
        return [m.endpoint for m in self.meters if m.endpoint is not None]

    async def stop(self) -> None:
        while self.meters:
            await self.meters.pop().stop()

    async def __aenter__(self) -> MeterFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
