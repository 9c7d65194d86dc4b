"""Upstream egress: relay the outbox in order with QoS 1, delete only what was PUBACKed.

Each round peeks up to ``batch_size`` of the oldest rows and publishes them on one
connection (paho sends them in order; the broker keeps per-topic order), waits for
their PUBACKs and deletes the longest acknowledged prefix. If the connection drops
mid-window, the unacknowledged rest stays queued and is re-sent, from the first
unacknowledged row, after a reconnect with capped exponential backoff. A reading the
broker received but whose PUBACK was lost is therefore sent twice: at-least-once, and
the aggregator deduplicates on ``(meter, seq)``. A PUBACK with an MQTT 5 failure
reason code (not authorised, quota exceeded...) counts as not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge_gateway.broker import upstream_client
from edge_gateway.config import GatewayConfig
from edge_gateway.egress.backoff import Backoff
from edge_gateway.errors import UpstreamError
from edge_gateway.ops.logs import fields
from edge_gateway.ops.metrics import Telemetry
from edge_gateway.storage.outbox import Outbox, OutboxItem

__all__ = ["UpstreamRelay"]

log = logging.getLogger("edge_gateway.egress")

_NO_MATCHING_SUBSCRIBERS = 0x10


class UpstreamRelay:
    """Drains the outbox to the upstream broker until cancelled or asked to stop."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, telemetry: Telemetry, *,
                 wake: asyncio.Event, space: asyncio.Event) -> None:
        self.config = config
        self.outbox = outbox
        self.telemetry = telemetry
        self._wake = wake  # set by the ingress after each commit
        self._space = space  # set here after deleting, for an ingress waiting on a full outbox
        self._stopping = asyncio.Event()
        self._refused: ReasonCode | None = None
        self._warned_no_subscribers = False
        # The window in flight: message ids still waiting for their PUBACK, and the
        # future completed when the last of them arrives.
        self._unacked: set[int] = set()
        self._window: asyncio.Future[None] | None = None

    def stop(self) -> None:
        """Finish the window in flight, then return from :meth:`run` (clean shutdown)."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        up = self.config.upstream
        backoff = Backoff(up.backoff_min_s, up.backoff_max_s)
        while not self._stopping.is_set():
            error = "connection closed"
            try:
                client = upstream_client(up, self.config.upstream_client_id())
                self._watch_pubacks(client)
                async with client:
                    self.telemetry.set_upstream(True)
                    self._warned_no_subscribers = False
                    log.info("upstream connected", extra=fields(host=up.host, port=up.port, tls=up.tls))
                    await self._relay(client, backoff)
                    return
            except (aiomqtt.MqttError, UpstreamError) as exc:
                error = str(exc)
            finally:
                self.telemetry.set_upstream(False)
            self.telemetry.upstream_retry()
            delay = backoff.next_delay()
            log.warning("upstream unavailable", extra=fields(
                error=error, retry_s=round(delay, 2), queued=self.outbox.depth))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    def _watch_pubacks(self, client: aiomqtt.Client) -> None:
        """Note MQTT 5 PUBACK reason codes, which aiomqtt does not report."""
        paho = client._client  # noqa: SLF001
        inner = paho.on_publish

        def on_publish(c: Any, userdata: Any, mid: int, reason: ReasonCode, props: Any) -> None:
            if reason.is_failure:
                self._refused = reason
            elif reason.value == _NO_MATCHING_SUBSCRIBERS and not self._warned_no_subscribers:
                # Accepted but routed nowhere: the aggregator's persistent session is missing.
                self._warned_no_subscribers = True
                log.warning("upstream broker has no subscriber for relayed readings")
            self._unacked.discard(mid)
            if not self._unacked and self._window is not None and not self._window.done():
                self._window.set_result(None)
            if inner is not None:
                inner(c, userdata, mid, reason, props)  # type: ignore[call-arg]

        paho.on_publish = on_publish

    async def _relay(self, client: aiomqtt.Client, backoff: Backoff) -> None:
        disconnected: asyncio.Future[None] = client._disconnected  # noqa: SLF001
        while not self._stopping.is_set():
            self._wake.clear()
            batch = await asyncio.to_thread(self.outbox.peek, self.config.batch_size)
            if not batch:
                await self._until(self._wake.wait(), disconnected)
                continue
            acked = await self._publish(client, batch, disconnected)
            if acked:
                await asyncio.to_thread(self.outbox.delete_through, batch[acked - 1].id)
                self.telemetry.forwarded(acked)
                self._space.set()
                backoff.reset()
            if acked < len(batch):
                refused, self._refused = self._refused, None
                cause = disconnected.exception() if disconnected.done() else None
                why = f"upstream refused a reading ({refused})" if refused else f"upstream connection lost ({cause})"
                raise UpstreamError(f"{why}; {len(batch) - acked} of {len(batch)} readings unacknowledged")

    async def _publish(self, client: aiomqtt.Client, batch: list[OutboxItem],
                       disconnected: asyncio.Future[None]) -> int:
        """Publish a window; return how many leading items were acknowledged.

        The window goes straight to paho (one call per reading, sent in outbox order;
        paho holds what exceeds the in-flight limit and sends it as PUBACKs free room),
        and one future completes when the last PUBACK arrived: no task or future per
        reading on the event loop.
        """
        self._refused = None
        paho = client._client  # noqa: SLF001
        window: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._window, self._unacked = window, set()
        infos: list[mqtt.MQTTMessageInfo] = []
        for item in batch:
            info = paho.publish(item.topic, item.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # not sent (the connection is gone): the rest stays queued
            infos.append(info)
            if not info.is_published():
                self._unacked.add(info.mid)
        if not self._unacked:
            window.set_result(None)
        either: set[asyncio.Future[Any]] = {window, disconnected}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._window = None
            self._unacked = set()
        if self._refused is not None:
            return 0  # which one was refused is unknown here: keep the whole window
        acked = 0
        for info in infos:
            if not info.is_published():
                break
            acked += 1
        return acked

    @staticmethod
    async def _until(waiting: Any, disconnected: asyncio.Future[None]) -> None:
        """Wait for ``waiting``, or raise if the connection drops first."""
        task = asyncio.ensure_future(waiting)
        either: set[asyncio.Future[Any]] = {task, disconnected}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            task.cancel()
        if disconnected.done():
            cause = disconnected.exception()
            raise UpstreamError(f"upstream connection lost: {cause}")
