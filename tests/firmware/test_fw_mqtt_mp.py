"""The firmware's MQTT 3.1.1 client on MicroPython against a real mosquitto:
QoS 1 publish with PUBACK, retained status, ping, clean disconnect (no will),
abrupt close (the broker publishes the will), refused connection."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.support.micropython import run_cases
from devservers.mosquitto import MosquittoBroker

MP_DIR = Path(__file__).parent / "mp"


class _Watcher:
    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self.got: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher")
        self.client.on_message = lambda _c, _u, m: self.got.put((m.topic, bytes(m.payload), m.retain))
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert ready.wait(5)

    def take(self, n: int) -> list[tuple[str, bytes, bool]]:
        return [self.got.get(timeout=5) for _ in range(n)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _case(broker: MosquittoBroker, op: str, **kw: object) -> dict[str, object]:
    return {"op": op, "host": broker.host, "port": broker.port, "client_id": f"gtx-{op}",
            "status": "gtx/v1/meters/mtr-q/status", "topic": "gtx/v1/meters/mtr-q/readings", **kw}


def test_publish_qos1_and_clean_disconnect(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    watcher = _Watcher(mosquitto, "gtx/v1/meters/mtr-q/#")
    try:
        payload = bytes(range(256)) * 2  # binary-safe, > 127 bytes (2-byte length)
        out = run_cases("mqtt_cases", [_case(mosquitto, "publish", payload=payload.hex())],
                        build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)
        assert out == [{"pid": 2, "connected": False}]
        got = watcher.take(2)
        assert got[0] == ("gtx/v1/meters/mtr-q/status", b"online", False)
        assert got[1] == ("gtx/v1/meters/mtr-q/readings", payload, False)
        assert watcher.got.empty()  # clean DISCONNECT: no will
    finally:
        watcher.close()


def test_abrupt_close_publishes_will(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    watcher = _Watcher(mosquitto, "gtx/v1/meters/mtr-q/status")
    try:
        out = run_cases("mqtt_cases", [_case(mosquitto, "die")], build_dir=fw_build,
                        script_dir=MP_DIR, tmp_dir=tmp_path)
        assert out == [{"closed": True}]
        assert watcher.take(1) == [("gtx/v1/meters/mtr-q/status", b"offline", False)]
    finally:
        watcher.close()


def test_refused_connection_is_typed(
    fw_build: Path, tmp_path: Path, mosquitto_factory: Callable[..., MosquittoBroker]
) -> None:
    closed = mosquitto_factory(allow_anonymous=False)
    out = run_cases("mqtt_cases", [_case(closed, "refused")], build_dir=fw_build,
                    script_dir=MP_DIR, tmp_dir=tmp_path)
    assert out == [{"reason": "connect_refused", "code": 5}]
