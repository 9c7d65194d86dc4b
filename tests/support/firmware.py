"""Harness for running the meter firmware on MicroPython in tests and benches.

- :func:`build_firmware` compiles firmware/ with mpy-cross, as deployed.
- :func:`write_config` writes a validated-at-boot config.json into a data dir.
- :class:`EnvelopeCollector` is a real MQTT subscriber (paho, persistent
  session, QoS 1) that keeps every envelope the meters publish.
- :func:`run_firmware` runs ``app.main(max_readings)`` on the capped
  interpreter as an asyncio subprocess, so an emulated meter served from the
  test's own event loop keeps answering Modbus requests meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from firmware.build import build
from tests.support.micropython import FIRMWARE_HEAP, MICROPYTHON, MpResult

__all__ = [
    "EnvelopeCollector",
    "build_firmware",
    "firmware_script",
    "run_firmware",
    "start_firmware",
    "write_config",
]


def build_firmware(out_dir: Path) -> Path:
    """Compile the firmware into ``out_dir`` and return it."""
    build(out_dir)
    return out_dir


def write_config(data_dir: Path, *, meter_id: str, host: str, port: int, device: str,
                 model: str = "sdm120", interval_s: int = 1, **top: Any) -> dict[str, Any]:
    """Write ``data_dir/config.json`` for the unix port; returns the dict."""
    broker = {"host": host, "port": port, "keepalive_s": 30, "timeout_ms": 2000,
              "backoff_initial_ms": 100, "backoff_max_ms": 400}
    broker.update(top.pop("broker", {}))
    meter = {"model": model, "slave_id": 1, "device": device, "timeout_ms": 1000}
    meter.update(top.pop("meter", {}))
    cfg = {
        "meter_id": meter_id,
        "wifi": {"ssid": "unused-on-unix", "password": ""},
        "broker": broker,
        "meter": meter,
        "interval_s": interval_s,
        "ring_slots": 64,
        **top,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.json").write_text(json.dumps(cfg))
    return cfg


def firmware_script(max_readings: int) -> str:
    """main.py's boot sequence, with a reading limit for tests; exits with
    status 3 if records were left undelivered."""
    return (
        "import sys\nimport start\napp = start.boot()\ndel start\n"
        f"sys.modules.pop('start')\nif app.run({max_readings}):\n    sys.exit(3)\n"
    )


def _argv(script: str, heap: str) -> list[str]:
    return [str(MICROPYTHON), "-X", f"heapsize={heap}", "-c", script]


async def start_firmware(build_dir: Path, data_dir: Path, script: str,
                         heap: str = FIRMWARE_HEAP) -> asyncio.subprocess.Process:
    """Start the firmware: ``script`` runs in the build dir, as on the device.

    MicroPython interns every module's file path; running from the build dir
    (sys.path entry "") keeps those paths as short as on the device's flash.
    """
    env = {**os.environ, "GTX_DATA_DIR": str(data_dir) + "/"}
    return await asyncio.create_subprocess_exec(
        *_argv(script, heap),
        cwd=build_dir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_firmware(build_dir: Path, data_dir: Path, max_readings: int,
                       heap: str = FIRMWARE_HEAP, timeout_s: float = 90,
                       script: str | None = None) -> MpResult:
    """Run the firmware until it took ``max_readings`` readings and drained."""
    proc = await start_firmware(build_dir, data_dir, script or firmware_script(max_readings), heap)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"firmware did not finish in {timeout_s} s\n{out.decode()}\n{err.decode()}") from None
    return MpResult(proc.returncode or 0, out.decode(), err.decode())


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
