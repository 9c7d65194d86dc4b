"""Health and metrics state, kept once and shown two ways.

``/metrics`` renders it as Prometheus text (a private registry, so several gateways
can live in one test process); ``/healthz`` as JSON. Both read the same counters.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["DirectStats", "Telemetry"]


@dataclass
class DirectStats:
    """Poll outcomes of one directly wired meter."""

    readings: int = 0
    errors: Tally[str] = field(default_factory=Tally)
    last_error: str | None = None

    def view(self) -> dict[str, object]:
        return {"readings": self.readings, "errors": dict(self.errors), "last_error": self.last_error}


class Telemetry:
    """Counters and gauges the ingress and egress update as they work."""

    def __init__(self, outbox_depth: Callable[[], int], outbox_capacity: int) -> None:
        self._depth = outbox_depth
        self.outbox_capacity = outbox_capacity
        self.started_at = time.time()
        self.local_connected = False
        self.upstream_connected = False
        self.outbox_full = False
        self.last_upstream_ack: float | None = None
        self.accepted_total = 0
        self.forwarded_total = 0
        self.rejects: Tally[str] = Tally()
        self.meter_last_seen: dict[str, float] = {}
        self.direct: dict[str, DirectStats] = {}

        r = self.registry = CollectorRegistry()
        self._accepted = Counter("gtx_gw_readings_accepted", "Readings that passed the checks", registry=r)
        self._forwarded = Counter("gtx_gw_readings_forwarded", "Readings acknowledged upstream", registry=r)
        self._rejected = Counter("gtx_gw_readings_rejected", "Local messages rejected, by reason",
                                 ["reason"], registry=r)
        self._reconnects = Counter("gtx_gw_upstream_reconnects", "Upstream connection attempts after a failure",
                                   registry=r)
        depth = Gauge("gtx_gw_outbox_depth", "Readings waiting for an upstream acknowledgement", registry=r)
        depth.set_function(lambda: float(self._depth()))
        Gauge("gtx_gw_outbox_capacity", "Outbox bound (outbox_max_messages)", registry=r).set(outbox_capacity)
        self._full = Gauge("gtx_gw_outbox_full", "1 while the outbox is full and local acks are held", registry=r)
        self._last_ack = Gauge("gtx_gw_last_upstream_ack_timestamp_seconds",
                               "Unix time of the last upstream PUBACK", registry=r)
        self._local = Gauge("gtx_gw_local_connected", "1 while subscribed to the local broker", registry=r)
        self._upstream = Gauge("gtx_gw_upstream_connected", "1 while connected upstream", registry=r)
        self._seen = Gauge("gtx_gw_meter_last_seen_timestamp_seconds",
                           "Unix time of each meter's last accepted reading", ["meter"], registry=r)
        self._direct_readings = Counter("gtx_gw_direct_readings", "Readings of directly polled meters stored",
                                        ["meter"], registry=r)
        self._direct_errors = Counter("gtx_gw_direct_read_errors", "Polls of directly wired meters that gave "
                                      "no reading, by reason", ["meter", "reason"], registry=r)

    # ------------------------------------------------------------ updates

    def accepted(self, meter: str) -> None:
        now = time.time()
        self.accepted_total += 1
        self._accepted.inc()
        self.meter_last_seen[meter] = now
        self._seen.labels(meter=meter).set(now)

    def direct_meter(self, meter: str) -> None:
        """Register a directly polled meter so it shows with zero counts before its first poll."""
        self.direct[meter] = DirectStats()
        self._direct_readings.labels(meter=meter)

    def direct_reading(self, meter: str) -> None:
        now = time.time()
        self.direct[meter].readings += 1
        self._direct_readings.labels(meter=meter).inc()
        self.meter_last_seen[meter] = now
        self._seen.labels(meter=meter).set(now)

    def direct_error(self, meter: str, reason: str, detail: str) -> None:
        stats = self.direct[meter]
        stats.errors[reason] += 1
        stats.last_error = f"{reason}: {detail}" if detail else reason
        self._direct_errors.labels(meter=meter, reason=reason).inc()

    def rejected(self, reason: str) -> None:
        self.rejects[reason] += 1
        self._rejected.labels(reason=reason).inc()

    def forwarded(self, count: int) -> None:
        now = time.time()
        self.forwarded_total += count
        self._forwarded.inc(count)
        self.last_upstream_ack = now
        self._last_ack.set(now)

    def set_local(self, up: bool) -> None:
        self.local_connected = up
        self._local.set(1 if up else 0)

    def set_upstream(self, up: bool) -> None:
        self.upstream_connected = up
        self._upstream.set(1 if up else 0)

    def upstream_retry(self) -> None:
        self._reconnects.inc()

    def set_outbox_full(self, full: bool) -> None:
        self.outbox_full = full
        self._full.set(1 if full else 0)

    # ------------------------------------------------------------ views

    @property
    def healthy(self) -> bool:
        """Both brokers connected and readings flowing (the outbox not full)."""
        return self.local_connected and self.upstream_connected and not self.outbox_full

    def health(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "degraded",
            "local_connected": self.local_connected,
            "upstream_connected": self.upstream_connected,
            "outbox_depth": self._depth(),
            "outbox_capacity": self.outbox_capacity,
            "outbox_full": self.outbox_full,
            "last_upstream_ack": self.last_upstream_ack,
            "accepted_total": self.accepted_total,
            "forwarded_total": self.forwarded_total,
            "rejects": dict(self.rejects),
            "meter_last_seen": dict(self.meter_last_seen),
            "direct_meters": {m: d.view() for m, d in self.direct.items()},
            "uptime_s": round(time.time() - self.started_at, 3),
        }

    def prometheus(self) -> bytes:
        return generate_latest(self.registry)
