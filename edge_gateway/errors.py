"""Typed errors of the edge gateway, each converted once at its boundary.

Hierarchy::

    GatewayError(Exception)          anything the gateway raises on purpose
        ConfigError                  settings or the meter keys file are invalid;
                                     the command line prints it and exits with 2
        OutboxError                  the SQLite outbox cannot be opened or written
            OutboxFull               an append would exceed ``outbox_max_messages``;
                                     nothing was written (the caller waits for space)
        IngressReject                one local message is not relayed; ``.reason`` is a
                                     stable snake_case code (the envelope codes of
                                     docs/envelope.md plus ``topic_mismatch`` and
                                     ``unknown_meter``)
        UpstreamError                the upstream connection failed or was lost before
                                     every PUBACK arrived (the relay reconnects)
        MeterError                   one poll of a directly wired meter produced no
                                     reading; ``.reason`` is a stable code
                                     (``connect_failed``, ``no_response``,
                                     ``modbus_exception``, ``short_block``,
                                     ``not_a_number``, ``out_of_range``,
                                     ``outbox_full``); the poller retries next interval
"""

from __future__ import annotations

__all__ = [
    "ConfigError", "GatewayError", "IngressReject", "MeterError", "OutboxError", "OutboxFull", "UpstreamError",
]


class GatewayError(Exception):
    """Base class of the gateway's own errors."""


class ConfigError(GatewayError):
    """Invalid configuration; the message lists every problem, one per line."""


class OutboxError(GatewayError):
    """The durable outbox failed (disk full, corrupt or unreadable database)."""


class OutboxFull(OutboxError):
    """The outbox holds ``outbox_max_messages`` readings; nothing was appended."""


class IngressReject(GatewayError):
    """A local message that fails the early checks and is never forwarded."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class UpstreamError(GatewayError):
    """The upstream broker could not be reached or dropped the connection."""


class MeterError(GatewayError):
    """A poll of a directly wired meter failed; nothing was stored for that interval."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
