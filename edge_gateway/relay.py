"""The gateway: ingress, outbox, egress and the ops endpoint wired together.

Every I/O object is built by the caller and passed in (the outbox, the telemetry), so
tests and the command line assemble the same pieces.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from edge_gateway.config import GatewayConfig
from edge_gateway.egress.publisher import UpstreamRelay
from edge_gateway.ingress.subscriber import LocalIngress
from edge_gateway.meters.poller import DirectMeterPoller
from edge_gateway.ops.http import serve_ops
from edge_gateway.ops.logs import fields
from edge_gateway.ops.metrics import Telemetry
from edge_gateway.storage.outbox import Outbox

__all__ = ["Gateway"]

log = logging.getLogger("edge_gateway")

#: How long a clean shutdown lets the upstream window in flight finish, so readings
#: already received upstream are deleted from the outbox and not sent again.
SHUTDOWN_GRACE_S = 3.0


class Gateway:
    """Runs until ``stop`` is set; raises if a component fails for good (e.g. the disk)."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, telemetry: Telemetry,
                 keys: Mapping[str, bytes] | None = None, signing_seed: bytes | None = None) -> None:
        self.config = config
        self.outbox = outbox
        self.telemetry = telemetry
        wake, space = asyncio.Event(), asyncio.Event()
        wake.set()  # relay whatever a previous run left in the outbox
        self.ingress = LocalIngress(config, outbox, telemetry, keys=keys, stored=wake.set, space=space)
        self.egress = UpstreamRelay(config, outbox, telemetry, wake=wake, space=space)
        self.poller: DirectMeterPoller | None = None
        if config.direct_meters:
            if signing_seed is None:
                raise ValueError("direct meters need the gateway's signing key")
            self.poller = DirectMeterPoller(config.direct_meters, outbox, telemetry,
                                            signing_seed=signing_seed, stored=wake.set)
        self.http_port: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        server = await serve_ops(self.config.http_host, self.config.http_port, self.telemetry)
        self.http_port = int(server.sockets[0].getsockname()[1])
        log.info("gateway started", extra=fields(
            gateway_id=self.config.gateway_id, http=f"{self.config.http_host}:{self.http_port}",
            outbox=str(self.outbox.path), queued=self.outbox.depth,
            verify_signatures=self.ingress.keys is not None,
            direct_meters=[m.meter_id for m in self.config.direct_meters]))
        ingress = asyncio.create_task(self.ingress.run(), name="ingress")
        egress = asyncio.create_task(self.egress.run(), name="egress")
        producers = [ingress]
        if self.poller is not None:
            producers.append(asyncio.create_task(self.poller.run(), name="direct-meters"))
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            await asyncio.wait({*producers, egress, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Producers first: nothing new is acknowledged locally (the broker keeps it)
            # and no new reading is polled while the last window goes upstream.
            for task in producers:
                task.cancel()
                await _settle(task)
            self.egress.stop()
            await asyncio.wait({egress}, timeout=SHUTDOWN_GRACE_S)
            egress.cancel()
            await _settle(egress)
            stopper.cancel()
            await _settle(stopper)
            server.close()
            await server.wait_closed()
        for task in (*producers, egress):
            if task.done() and not task.cancelled() and task.exception() is not None:
                error = task.exception()
                # The poller's TaskGroup wraps a failure (e.g. the outbox disk) in a group.
                if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                    error = error.exceptions[0]
                raise error  # type: ignore[misc]
        log.info("gateway stopped", extra=fields(queued=self.outbox.depth))


async def _settle(task: asyncio.Task[object]) -> None:
    """Wait for a task to end; its outcome is inspected by the caller."""
    await asyncio.gather(task, return_exceptions=True)
