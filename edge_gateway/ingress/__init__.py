"""Local side: early envelope checks (pure) and the local broker subscriber."""

from edge_gateway.ingress.checks import Accepted, check_message
from edge_gateway.ingress.subscriber import LocalIngress

__all__ = ["Accepted", "LocalIngress", "check_message"]
