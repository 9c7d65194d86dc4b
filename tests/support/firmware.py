"""Harness for running the meter firmware on MicroPython in tests and benches.

- :class:`EnvelopeCollector` is a real MQTT subscriber (paho, persistent
  session, QoS 1) that keeps every envelope the meters publish.
- :func:`build_firmware`, :func:`write_config`, :func:`firmware_script`,
  :func:`start_firmware`, :func:`run_firmware` live in firmware_host.unixport (shared
  with the demo) and are re-exported here.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from firmware_host.unixport import build_firmware, firmware_script, run_firmware, start_firmware, write_config

__all__ = [
    "EnvelopeCollector",
    "build_firmware",
    "firmware_script",
    "run_firmware",
    "start_firmware",
    "write_config",
]


class EnvelopeCollector:
    """Subscribes to every meter's reading topic and keeps the raw payloads.

    Uses a persistent session (clean_session=False) so messages published
    while this subscriber is reconnecting (e.g. across a broker restart) are
    queued by the broker, not lost.
    """

    def __init__(self, host: str, port: int, topic: str = "gtx/v1/meters/+/readings",
                 client_id: str = "gtx-test-collector", ca_cert: Path | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed: queue.Queue[bool] = queue.Queue()
        self._topic = topic
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.put(True)
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)
        if ca_cert is not None:
            self.client.tls_set(ca_certs=str(ca_cert))
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self._subscribed.get(timeout=10)

    def _on_connect(self, client: mqtt.Client, *_a: object) -> None:
        client.subscribe(self._topic, qos=1)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [p for _, p in self.messages]

    async def wait_for(self, n: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count() < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {self.count()} messages, expected {n}")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
