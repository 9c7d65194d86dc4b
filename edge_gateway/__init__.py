"""Edge gateway: local meters' broker in, durable SQLite outbox, upstream MQTT out.

Run it with ``python -m edge_gateway`` (see ``edge_gateway/README.md``).
"""

from edge_gateway.config import GatewayConfig, load_config
from edge_gateway.errors import ConfigError, GatewayError, IngressReject, OutboxError, OutboxFull, UpstreamError
from edge_gateway.relay import Gateway
from edge_gateway.storage.outbox import Outbox

__all__ = [
    "ConfigError", "Gateway", "GatewayConfig", "GatewayError", "IngressReject", "Outbox", "OutboxError",
    "OutboxFull", "UpstreamError", "load_config",
]
