"""The aggregator's MQTT consumer over TLS; its password kept out of logs and reprs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from pydantic import ValidationError
from solders.keypair import Keypair

from aggregator.app import create_app
from aggregator.config import MqttSettings
from aggregator.services import services_of
from common.envelope import reading_topic
from devservers.mosquitto import MosquittoBroker
from tests.aggregator.agg_helpers import SimMeter, make_settings, running, seed_for
from tests.support.tls import make_pki
from tools import wallet


def _publish_tls(broker: MosquittoBroker, ca: Path, topic: str, payload: bytes) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="tls-meter")
    client.tls_set(ca_certs=str(ca))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


# paho leaves the socket of a failed TLS handshake for the garbage collector to close.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_readings_arrive_over_tls_and_an_unknown_ca_is_refused(
        pg_dsn: str, tmp_path: Path, mosquitto_factory: Callable[..., MosquittoBroker]) -> None:
    pki = make_pki(tmp_path / "pki")
    broker = mosquitto_factory(tls=pki)
    wrong = make_settings(pg_dsn)
    wrong.mqtt = MqttSettings(enabled=True, host=broker.host, port=broker.port, client_id="agg-tls-wrong",
                              tls_ca_file=pki.other_ca_cert)
    async with running(create_app(wrong)) as (app, _):
        await asyncio.sleep(1.0)
        mqtt = services_of(app).mqtt
        assert mqtt is not None and not mqtt.connected.is_set() and mqtt.restarts > 0

    settings = make_settings(pg_dsn)
    settings.mqtt = MqttSettings(enabled=True, host=broker.host, port=broker.port, client_id="agg-tls",
                                 tls_ca_file=pki.ca_cert)
    async with running(create_app(settings)) as (app, http):
        mqtt = services_of(app).mqtt
        assert mqtt is not None
        await asyncio.wait_for(mqtt.connected.wait(), 10)
        owner = Keypair.from_seed(seed_for("wallet:tls"))
        assert (await wallet.register_user(http, owner, "prosumer")).status_code == 201
        meter = SimMeter("mtr-tls", seed_for("meter:tls"))
        assert (await wallet.register_meter(http, owner, meter.meter_id,
                                            bytes.fromhex(meter.public_key_hex))).status_code == 201
        _publish_tls(broker, pki.ca_cert, reading_topic(meter.meter_id), meter.next())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not (await http.get(f"/api/meters/{meter.meter_id}/readings")).json():
            assert loop.time() < deadline, "the reading sent over TLS was not stored"
            await asyncio.sleep(0.05)


def test_mqtt_settings_keep_the_password_secret_and_check_tls_files(tmp_path: Path) -> None:
    s = MqttSettings(username="agg", password="hunter2-long-password")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.password is not None and s.password.get_secret_value() == "hunter2-long-password"
    assert not s.tls_enabled and not s.tls_insecure  # plain by default; host names checked when on
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(ValidationError, match="go together"):
        MqttSettings(tls_cert_file=cert)
    with pytest.raises(ValidationError, match="no such file"):
        MqttSettings(tls_ca_file=tmp_path / "missing.pem")
    assert MqttSettings(tls_ca_file=cert).tls_enabled
