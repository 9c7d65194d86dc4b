"""Readings: validation rules, the batched ingest pipeline, HTTP and MQTT entry points."""

from aggregator.readings.reasons import Reason
from aggregator.readings.service import IngestService, Outcome, Submission

__all__ = ["IngestService", "Outcome", "Reason", "Submission"]
