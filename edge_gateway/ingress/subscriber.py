"""Local ingress: subscribe to the meters, check, store in the outbox, then acknowledge.

* MQTT 5 persistent session (see :func:`edge_gateway.broker.local_client`): readings
  published while the gateway is down wait in the local broker.
* Manual PUBACK, sent only after the outbox commit that holds the message (or its
  reject record). A crash between commit and PUBACK makes the broker redeliver; the
  outbox ignores a byte-identical copy that is still queued, and the aggregator
  deduplicates on ``(meter, seq)`` in any case.
* Acknowledgements go out in arrival order, as MQTT expects.
* Outbox full: stop acknowledging and wait. The broker stops sending after
  ``receive_maximum`` unacknowledged messages and keeps the rest in the session; no
  reading is dropped by the gateway.
* Rejected messages are acknowledged (they can never become valid) after being
  counted, logged with their reason and kept in the rejects table (in a form SQLite
  can always store, see :func:`edge_gateway.storage.outbox.storable`). A message
  that makes the checks themselves fail is rejected as ``check_failed``: whatever a
  publisher sends costs one reject row and never stops the gateway, which would
  otherwise crash on every redelivery of the same message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiomqtt

from common.wire import READINGS_TOPIC_FILTER
from edge_gateway.broker import local_client
from edge_gateway.config import GatewayConfig
from edge_gateway.egress.backoff import Backoff
from edge_gateway.errors import IngressReject, OutboxFull
from edge_gateway.ingress.checks import Accepted, check_message
from edge_gateway.ops.logs import fields
from edge_gateway.ops.metrics import Telemetry
from edge_gateway.storage.outbox import Outbox, RejectRecord

__all__ = ["LocalIngress"]

log = logging.getLogger("edge_gateway.ingress")

_Verdict = Accepted | IngressReject


class LocalIngress:
    """Consumes the local broker into the outbox until cancelled."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, telemetry: Telemetry, *,
                 keys: Mapping[str, bytes] | None, stored: Callable[[], None], space: asyncio.Event) -> None:
        self.config = config
        self.outbox = outbox
        self.telemetry = telemetry
        self.keys = keys
        self._stored = stored  # wakes the egress
        self._space = space  # set by the egress after it deleted acknowledged rows

    async def run(self) -> None:
        """Subscribe and consume; reconnect with capped backoff when the broker goes away."""
        backoff = Backoff(0.2, 5.0)
        while True:
            error = "connection closed"
            try:
                async with local_client(self.config.local, self.config.local_client_id()) as client:
                    await client.subscribe(READINGS_TOPIC_FILTER, qos=1)
                    self.telemetry.set_local(True)
                    backoff.reset()
                    log.info("local broker subscribed", extra=fields(
                        host=self.config.local.host, port=self.config.local.port, topic=READINGS_TOPIC_FILTER))
                    await self._consume(client)
            except aiomqtt.MqttError as exc:
                error = str(exc)
            finally:
                self.telemetry.set_local(False)
            delay = backoff.next_delay()
            log.warning("local broker unavailable", extra=fields(error=error, retry_s=round(delay, 2)))
            await asyncio.sleep(delay)

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = aiter(client.messages)
        # Drain what aiomqtt already queued so one commit (one fsync) covers a burst.
        queue: asyncio.Queue[aiomqtt.Message] = client._queue  # noqa: SLF001
        limit = self.config.batch_size
        while True:
            batch = [await anext(messages)]
            while len(batch) < limit and not queue.empty():
                batch.append(queue.get_nowait())
            await self._handle(client, batch)

    def _check(self, message: aiomqtt.Message) -> _Verdict:
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        try:
            return check_message(message.topic.value, bytes(payload), self.keys)
        except IngressReject as reject:
            return reject
        except Exception as exc:  # noqa: BLE001 - a message must never stop the ingress
            # The checks are meant to turn every input into a reason code; a message that
            # still breaks them cannot become valid on redelivery, so it is rejected (and
            # acknowledged) like any other instead of crash-looping the gateway.
            log.exception("envelope check failed", extra=fields(topic=message.topic.value))
            return IngressReject("check_failed", f"{type(exc).__name__}: {exc}")

    async def _handle(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        verdicts = [self._check(m) for m in batch]
        start = 0
        while start < len(batch):
            accepted: list[tuple[str, bytes]] = []
            rejects: list[RejectRecord] = []
            free = self.outbox.free
            end = start
            while end < len(batch):
                verdict = verdicts[end]
                if isinstance(verdict, Accepted):
                    if len(accepted) == free:
                        break
                    accepted.append((verdict.topic, verdict.payload))
                else:
                    m = batch[end]
                    payload = bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else b""
                    rejects.append(RejectRecord(m.topic.value, verdict.reason, verdict.detail, payload))
                end += 1
            if end == start:  # the next message is a reading and there is no room for it
                await self._wait_for_space(client)
                continue
            try:
                # In a worker thread: the loop keeps reading the broker during the fsync,
                # so the next batch holds what arrived meanwhile (group commit).
                await asyncio.to_thread(self.outbox.store, accepted, rejects)
            except OutboxFull:  # a directly polled meter took the room meanwhile
                await self._wait_for_space(client)
                continue
            if accepted:
                self._stored()
            self._ack(client, batch[start:end])
            self._account(batch[start:end], verdicts[start:end])
            start = end

    def _ack(self, client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
        paho = client._client  # noqa: SLF001
        for m in messages:
            if m.qos > 0:
                paho.ack(m.mid, m.qos)

    def _account(self, messages: list[aiomqtt.Message], verdicts: list[_Verdict]) -> None:
        for m, verdict in zip(messages, verdicts, strict=True):
            if isinstance(verdict, Accepted):
                self.telemetry.accepted(verdict.meter)
            else:
                self.telemetry.rejected(verdict.reason)
                log.warning("reading rejected", extra=fields(
                    topic=m.topic.value, reason=verdict.reason, detail=verdict.detail))

    async def _wait_for_space(self, client: aiomqtt.Client) -> None:
        """Hold acknowledgements until the egress frees room (or the connection drops)."""
        self.telemetry.set_outbox_full(True)
        log.warning("outbox full: holding local acknowledgements", extra=fields(
            depth=self.outbox.depth, capacity=self.outbox.max_messages))
        disconnected = client._disconnected  # noqa: SLF001
        while self.outbox.free == 0:
            self._space.clear()
            waiter = asyncio.ensure_future(self._space.wait())
            either: set[asyncio.Future[Any]] = {waiter, disconnected}
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if disconnected.done():
                # Unacknowledged messages stay in the broker's session for redelivery.
                raise aiomqtt.MqttError("local broker disconnected while the outbox was full")
        self.telemetry.set_outbox_full(False)
        log.info("outbox has room again", extra=fields(depth=self.outbox.depth))
