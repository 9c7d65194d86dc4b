"""Operations: telemetry, the /metrics and /healthz endpoint, JSON logs."""

from edge_gateway.ops.http import serve_ops
from edge_gateway.ops.logs import configure_logging
from edge_gateway.ops.metrics import Telemetry

__all__ = ["Telemetry", "configure_logging", "serve_ops"]
