"""The shared mosquitto helper: real broker, readiness, restart on the same port."""

from __future__ import annotations

import queue
import threading

import paho.mqtt.client as mqtt

from devservers.mosquitto import MosquittoBroker, mqtt_ping


def _roundtrip(broker: MosquittoBroker, topic: str, payload: bytes) -> bytes:
    got: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="helper-test")
    client.on_message = lambda _c, _u, msg: got.put(msg.payload)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe(topic, qos=1)
        assert subscribed.wait(5)
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
        return got.get(timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_broker_restarts_on_same_port(mosquitto: MosquittoBroker) -> None:
    port = mosquitto.port
    assert _roundtrip(mosquitto, "gtx/test", b"one") == b"one"
    mosquitto.stop()
    assert not mqtt_ping(mosquitto.host, port)
    mosquitto.start()
    assert mosquitto.port == port and mqtt_ping(mosquitto.host, port)
    assert _roundtrip(mosquitto, "gtx/test", b"two") == b"two"
