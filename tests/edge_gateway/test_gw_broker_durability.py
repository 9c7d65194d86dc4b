"""The shipped broker persistence settings keep acknowledged QoS 1 readings across a SIGKILL.

mosquitto 2.0 saves after the PUBACK, in the same main-loop pass, so the test lets the
broker serve one more connection (a pass that follows the acknowledgements) before it
kills it; without that barrier a reading acknowledged in the very last pass can be lost
(see ``devservers.mosquitto.DURABLE_PERSISTENCE``).
"""

from __future__ import annotations

from pathlib import Path

from common.envelope import reading_topic
from tests.edge_gateway.gw_helpers import meters, publish, wait_until
from tests.support.firmware import EnvelopeCollector
from devservers.mosquitto import DURABLE_PERSISTENCE, MosquittoBroker, mqtt_ping


def _survivors(workdir: Path, *, autosave: bool) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Publish 200 QoS 1 readings to an offline persistent consumer, SIGKILL the broker,
    restart it and drain: (sent, received)."""
    broker = MosquittoBroker(workdir, autosave=autosave)
    broker.start()
    consumer: EnvelopeCollector | None = None
    try:
        consumer = EnvelopeCollector(broker.host, broker.port, client_id="gtx-test-durable")
        consumer.close()  # the session and its subscription stay; the consumer is offline
        (meter,) = meters("mtr-a")
        sent = [(reading_topic("mtr-a"), meter.next()) for _ in range(200)]
        publish(broker, sent)  # returns once every PUBACK arrived
        assert mqtt_ping(broker.host, broker.port)  # a later main-loop pass
        broker.kill()  # SIGKILL: no shutdown save
        broker.start()
        consumer = EnvelopeCollector(broker.host, broker.port, client_id="gtx-test-durable")
        if autosave:
            wait_until(lambda: consumer.count() >= len(sent), what="the 200 acknowledged readings")
        else:  # nothing to wait for: the session is back, its queue is empty
            assert mqtt_ping(broker.host, broker.port)
        return sent, list(consumer.messages)
    finally:
        if consumer is not None:
            consumer.close()
        broker.stop()


def test_acknowledged_qos1_readings_survive_a_broker_sigkill(tmp_path: Path):
    broker = MosquittoBroker(tmp_path / "conf")
    broker._write_conf()  # noqa: SLF001 - the generated file is what operators copy
    assert all(line in broker.conf_path.read_text().splitlines() for line in DURABLE_PERSISTENCE)

    sent, received = _survivors(tmp_path / "durable", autosave=True)
    assert received == sent  # none lost, in order


def test_default_mosquitto_persistence_loses_them(tmp_path: Path):
    """Why the settings are shipped: ``persistence true`` alone saves on a clean exit only."""
    _, received = _survivors(tmp_path / "default", autosave=False)
    assert received == []
