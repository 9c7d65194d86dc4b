"""Structured logs: one JSON object per line on stderr (journald keeps them as-is).

Call sites pass context as ``extra={"fields": {...}}`` so ``meter``, ``reason`` and
counts can be indexed without parsing free text.
"""

from __future__ import annotations

import logging
import sys

from common.logs import JsonFormatter

__all__ = ["configure_logging", "fields"]


def fields(**values: object) -> dict[str, dict[str, object]]:
    """``log.info("...", extra=fields(meter=m))``."""
    return {"fields": values}


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the gateway and the MQTT library (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    logging.getLogger("edge_gateway").setLevel(level.upper())
    # pymodbus logs every unanswered request as an error; the direct-meter poller
    # already logs each failed poll once, with its reason code.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
