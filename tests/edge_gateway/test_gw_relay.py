"""The gateway process between two real mosquitto brokers: relay, rejects, shutdown."""

from __future__ import annotations

import json
import re

from common.envelope import reading_topic, sign_envelope
from tests.edge_gateway.gw_helpers import meters, publish, readings, wait_until
from tests.support.tls import Pki
from edge_gateway.storage.outbox import Outbox


def test_readings_arrive_upstream_over_tls_byte_identical_and_in_order(
        mosquitto_factory, gateway_factory, collector_factory, test_pki: Pki):
    local = mosquitto_factory()
    upstream = mosquitto_factory(tls=test_pki)
    collector = collector_factory(upstream, ca_cert=test_pki.ca_cert)
    gw = gateway_factory(local, upstream, ca_cert=test_pki.ca_cert).start()

    sent = readings(meters("mtr-a", "mtr-b", "mtr-c"), rounds=20)
    publish(local, sent)
    wait_until(lambda: collector.count() >= len(sent), what="60 readings upstream")
    assert collector.messages == sent  # same topics, same bytes, same order

    wait_until(lambda: gw.health()["forwarded_total"] == len(sent), what="acks counted")
    health = gw.health()
    assert health["outbox_depth"] == 0 and health["accepted_total"] == 60 and health["rejects"] == {}
    assert set(health["meter_last_seen"]) == {"mtr-a", "mtr-b", "mtr-c"}  # type: ignore[arg-type]
    assert isinstance(health["last_upstream_ack"], float)
    metrics = gw.metrics()
    assert "gtx_gw_readings_forwarded_total 60.0" in metrics
    assert "gtx_gw_outbox_depth 0.0" in metrics
    assert re.search(r'gtx_gw_meter_last_seen_timestamp_seconds\{meter="mtr-b"\} \d', metrics)
    assert gw.get("/nope")[0] == 404


def test_malformed_and_misrouted_envelopes_are_rejected_with_reasons_and_never_forwarded(
        tmp_path, mosquitto_factory, gateway_factory, collector_factory):
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    a, b, stranger = meters("mtr-a", "mtr-b", "mtr-x")
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"mtr-a": a.public_key_hex, "mtr-b": b.public_key_hex}))
    gw = gateway_factory(local, upstream, extra=f'meter_keys_file = "{keys}"').start()

    good_a, good_b = a.next(), b.next()
    forged = sign_envelope(b.seed, a.reading(seq=99))  # mtr-a's reading signed with mtr-b's key
    bad = [
        (reading_topic("mtr-b"), a.next(), "topic_mismatch"),
        (reading_topic("mtr-a"), b'{"v":1,"meter":', "malformed_json"),
        ("gtx/v1/meters/bad id!/readings", b.next(), "bad_topic"),
        (reading_topic("mtr-a"), b"x" * 3000, "too_large"),
        (reading_topic("mtr-a"), forged, "bad_signature"),
        (reading_topic("mtr-x"), stranger.next(), "unknown_meter"),
    ]
    publish(local, [(reading_topic("mtr-a"), good_a)] + [(t, p) for t, p, _ in bad]
            + [(reading_topic("mtr-b"), good_b)])
    wait_until(lambda: collector.count() >= 2, what="the two valid readings upstream")
    wait_until(lambda: sum(gw.health()["rejects"].values()) == len(bad), what="rejects counted")  # type: ignore[union-attr]

    assert collector.payloads() == [good_a, good_b]  # only these, and the barrier passed every reject
    assert gw.health()["rejects"] == {reason: 1 for _, _, reason in bad}
    assert 'gtx_gw_readings_rejected_total{reason="topic_mismatch"} 1.0' in gw.metrics()
    logged = [json.loads(line) for line in gw.logs().splitlines() if '"reading rejected"' in line]
    assert sorted(entry["reason"] for entry in logged) == sorted(reason for _, _, reason in bad)

    assert gw.terminate() == 0  # SIGTERM: clean stop
    assert '"gateway stopped"' in gw.logs()
    with Outbox(gw.config.parent / "outbox.sqlite3", 10) as outbox:
        kept = outbox.rejects()
        assert outbox.depth == 0
    assert sorted(r.reason for r in kept) == sorted(reason for _, _, reason in bad)
    assert {r.topic for r in kept if r.reason == "bad_topic"} == {"gtx/v1/meters/bad id!/readings"}
