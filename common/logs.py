"""Structured logs shared by the services: one JSON object per line.

Call sites pass context through ``extra={"fields": {...}}`` so log processors can index
``meter_id``, ``reason`` and counts without parsing free text. Each service installs the
formatter its own way (``aggregator.logs``, ``edge_gateway.ops.logs``).
"""

from __future__ import annotations

import json
import logging

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))
