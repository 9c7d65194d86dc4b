"""Upstream side: the ordered QoS 1 relay and its reconnect backoff policy."""

from edge_gateway.egress.backoff import Backoff
from edge_gateway.egress.publisher import UpstreamRelay

__all__ = ["Backoff", "UpstreamRelay"]
