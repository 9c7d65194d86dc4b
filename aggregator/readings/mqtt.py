"""MQTT ingest: a persistent-session consumer that acknowledges only stored data.

* MQTT v5, ``clean_start=False`` with a session expiry: the broker queues readings
  while the aggregator is down, and they are delivered on reconnect.
* One consumer keeps each meter's publish order (the rules need it); a shared
  subscription (``$share/<group>/...``) is available but off by default, see config.
* Manual PUBACK: a message is acknowledged only after the batch holding it committed
  (or its rejection was recorded). If storing fails, the connection is dropped without
  acks, so the broker redelivers — at-least-once, deduplicated on (meter, seq).
* Messages are micro-batched (``batch_max_readings`` or ``batch_max_wait_ms``) and
  processed one batch at a time, which preserves each meter's publish order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from aggregator.config import MqttSettings
from aggregator.metrics import Metrics
from aggregator.readings.service import IngestService, Prepared, Submission

log = logging.getLogger("aggregator.mqtt")


class MqttIngest:
    SHUTDOWN_GRACE_S = 5.0
    def __init__(self, settings: MqttSettings, service: IngestService, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.service = service
        self.metrics = metrics
        self.connected = asyncio.Event()
        self.batches = 0
        self.failures = 0  # batches that could not be stored (and were left unacked)
        self.restarts = 0  # reconnects after broker or database trouble

    @property
    def subscription(self) -> str:
        s = self.settings
        return f"$share/{s.share_group}/{s.topic}" if s.share_group else s.topic

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        props.ReceiveMaximum = s.receive_maximum
        tls = None
        if s.tls_enabled:
            tls = aiomqtt.TLSParameters(
                ca_certs=str(s.tls_ca_file) if s.tls_ca_file else None,
                certfile=str(s.tls_cert_file) if s.tls_cert_file else None,
                keyfile=str(s.tls_key_file) if s.tls_key_file else None)
        client = aiomqtt.Client(
            s.host, s.port, identifier=s.client_id, protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False, properties=props, username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
            keepalive=30, tls_params=tls, tls_insecure=s.tls_insecure if tls is not None else None,
        )
        # aiomqtt has no manual-ack switch; paho (its engine) does. Ack after commit.
        client._client.manual_ack_set(True)  # noqa: SLF001
        return client

    async def run(self) -> None:
        """Consume until cancelled; reconnect with capped exponential backoff."""
        backoff_s = 0.2
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(self.subscription, qos=1)
                    self._set_connected(True)
                    backoff_s = 0.2
                    log.info("mqtt subscribed", extra={"fields": {"topic": self.subscription}})
                    await self._consume(client)
            except Exception as exc:  # noqa: BLE001 - broker or database trouble: reconnect, never die
                self._set_connected(False)
                self.restarts += 1
                log.warning("mqtt consumer restarting", extra={"fields": {"error": repr(exc), "retry_s": backoff_s}})
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
            finally:
                self._set_connected(False)

    def _set_connected(self, up: bool) -> None:
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        if self.metrics is not None:
            self.metrics.mqtt_connected.set(1 if up else 0)

    async def _consume(self, client: aiomqtt.Client) -> None:
        it = aiter(client.messages)
        # aiomqtt's iterator spawns a task per message; draining its queue directly
        # keeps the per-message cost to a list append when the broker is streaming.
        queue: asyncio.Queue[aiomqtt.Message] = client._queue  # noqa: SLF001
        limit = self.settings.batch_max_readings
        wait_s = self.settings.batch_max_wait_ms / 1000
        committing: asyncio.Task[None] | None = None
        try:
            while True:
                batch = [await self._next(it, committing)]
                deadline = time.monotonic() + wait_s
                while len(batch) < limit:
                    while len(batch) < limit and not queue.empty():
                        batch.append(queue.get_nowait())
                    remaining = deadline - time.monotonic()
                    if len(batch) >= limit or remaining <= 0:
                        break
                    await asyncio.sleep(min(remaining, 0.002))
                # Two-stage pipeline: verify this batch while the previous one commits.
                # Commits (and acks) stay strictly in arrival order.
                prepared = await self.service.prepare([self._submission(m) for m in batch])
                if committing is not None:
                    await committing
                committing = asyncio.create_task(self._commit(client, batch, prepared))
        finally:
            # On shutdown let the batch being committed finish and ack, so the broker
            # does not redeliver what is already stored (bounded: the database may be down).
            if committing is not None and not committing.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(committing, self.SHUTDOWN_GRACE_S)

    @staticmethod
    async def _next(it: AsyncIterator[aiomqtt.Message], committing: asyncio.Task[None] | None) -> aiomqtt.Message:
        """Next message, but surface a failed commit at once (not at the next message)."""
        if committing is None or committing.done():
            if committing is not None:
                committing.result()  # raises if that batch could not be stored
            return await anext(it)
        nxt = asyncio.ensure_future(anext(it))
        await asyncio.wait({nxt, committing}, return_when=asyncio.FIRST_COMPLETED)
        if committing.done() and committing.exception() is not None:
            nxt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nxt
            committing.result()
        return await nxt

    @staticmethod
    def _submission(m: aiomqtt.Message) -> Submission:
        payload = bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else b""
        return Submission(payload, "mqtt", m.topic.value)

    async def _commit(self, client: aiomqtt.Client, batch: list[aiomqtt.Message], prepared: Prepared) -> None:
        try:
            await self.service.commit(prepared)
        except Exception as exc:
            # Nothing acked: force a reconnect so the broker redelivers this batch.
            self.failures += 1
            log.exception("mqtt batch not stored; reconnecting for redelivery")
            raise aiomqtt.MqttError(f"batch not stored: {exc}") from exc
        paho = client._client  # noqa: SLF001
        for m in batch:
            if m.qos > 0:
                paho.ack(m.mid, m.qos)
        self.batches += 1
