"""Prometheus metrics, one registry per app instance (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.readings = Counter(
            "gtx_readings_total",
            "Readings processed, by transport and outcome (accepted/gap/rejected) and reason",
            ["transport", "outcome", "reason"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "gtx_ingest_batch_seconds",
            "Wall time to validate and durably store one ingest batch",
            ["transport"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "gtx_ingest_batch_readings",
            "Readings per ingest batch",
            ["transport"],
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.rejections_pruned = Counter(
            "gtx_rejection_rows_pruned_total",
            "Stored rejection rows deleted to keep the bounds (GTX_INGEST_MAX_REJECTIONS_PER_KIND, "
            "GTX_INGEST_MAX_UNREGISTERED_REJECTIONS); still counted in gtx_readings_total",
            registry=self.registry,
        )
        self.mqtt_connected = Gauge(
            "gtx_mqtt_connected", "1 while the MQTT consumer is connected", registry=self.registry
        )
        self.mint_batches = Counter(
            "gtx_mint_batches_total", "Mint batch state transitions", ["state"], registry=self.registry
        )
        self.mint_alerts = Counter(
            "gtx_mint_alerts_total",
            "Mint batches that need an operator (failed after max attempts, or conflict)",
            ["reason"],
            registry=self.registry,
        )
