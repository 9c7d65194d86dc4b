"""One place that turns broker settings into an aiomqtt client (MQTT 5, TLS, auth)."""

from __future__ import annotations

import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_gateway.config import LocalBroker, UpstreamBroker

__all__ = ["local_client", "upstream_client"]


def _tls(settings: LocalBroker | UpstreamBroker) -> aiomqtt.TLSParameters | None:
    if settings.tls_ca is None:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=str(settings.tls_ca),
        certfile=str(settings.tls_cert) if settings.tls_cert else None,
        keyfile=str(settings.tls_key) if settings.tls_key else None,
    )


def _password(settings: LocalBroker | UpstreamBroker) -> str | None:
    return settings.password.get_secret_value() if settings.password is not None else None


def local_client(settings: LocalBroker, client_id: str) -> aiomqtt.Client:
    """Persistent-session subscriber with manual acknowledgements.

    ``clean_start=False`` plus a session expiry: the local broker keeps the
    subscription and queues readings while the gateway restarts, and redelivers any
    it never acknowledged. The acknowledgement (PUBACK) is sent by the ingress only
    after the outbox commit.
    """
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = settings.session_expiry_s
    props.ReceiveMaximum = settings.receive_maximum
    client = aiomqtt.Client(
        settings.host, settings.port, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False, properties=props, username=settings.username, password=_password(settings),
        keepalive=settings.keepalive_s, tls_params=_tls(settings),
    )
    # aiomqtt has no manual-ack option; paho, its engine, does.
    client._client.manual_ack_set(True)  # noqa: SLF001
    return client


def upstream_client(settings: UpstreamBroker, client_id: str) -> aiomqtt.Client:
    """Publisher with a clean session: the outbox, not the broker, holds unsent readings.

    A fresh connection re-sends from the oldest unacknowledged outbox row, so no
    broker-side session state is needed for the publishing direction. The relay never
    has more than one window (``batch_size`` readings) unacknowledged, so paho's own
    in-flight limit is off: with it on, paho rescans its whole outgoing queue on every
    PUBACK.
    """
    return aiomqtt.Client(
        settings.host, settings.port, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=MQTT_CLEAN_START_FIRST_ONLY, username=settings.username, password=_password(settings),
        keepalive=settings.keepalive_s, tls_params=_tls(settings), max_inflight_messages=0,
    )
