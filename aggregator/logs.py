"""Structured (one JSON object per line) logging for the aggregator.

Call sites pass context through ``extra={"fields": {...}}`` so log processors can index
``meter_id``, ``reason`` and counts without parsing free text.
"""

from __future__ import annotations

import logging
import sys
import time

from common.logs import JsonFormatter


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Install one stderr handler on the ``aggregator`` logger (idempotent)."""
    logger = logging.getLogger("aggregator")
    logger.setLevel(level.upper())
    for handler in list(logger.handlers):
        if getattr(handler, "_gtx", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._gtx = True  # type: ignore[attr-defined]
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        logging.Formatter.converter = time.gmtime
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
