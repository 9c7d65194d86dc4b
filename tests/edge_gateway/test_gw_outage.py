"""Upstream outages: everything queued in the outbox is delivered, in order, once."""

from __future__ import annotations

from common.envelope import reading_topic
from tests.edge_gateway.gw_helpers import meters, publish, readings, wait_until


def test_upstream_down_then_back_delivers_every_reading_in_order_without_duplicates(
        mosquitto_factory, gateway_factory, collector_factory):
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream).start()
    fleet = meters("mtr-a", "mtr-b")

    before = readings(fleet, rounds=3)
    publish(local, before)
    wait_until(lambda: gw.health()["forwarded_total"] == len(before), what="first readings acknowledged")

    upstream.stop()
    during = readings(fleet, rounds=15)
    publish(local, during)
    wait_until(lambda: gw.health()["outbox_depth"] == len(during), what="outage readings in the outbox")
    health = gw.health()
    assert health["status"] == "degraded" and health["upstream_connected"] is False

    upstream.start()
    wait_until(lambda: gw.health()["status"] == "ok" and gw.health()["outbox_depth"] == 0, what="outbox drained")
    # Nothing is left to send. A reading published now is a barrier: the relay keeps
    # order, so once it arrived, everything before it (and any duplicate) has too.
    barrier = readings(fleet[:1], rounds=1)
    publish(local, barrier)
    wait_until(lambda: collector.count() >= len(before + during + barrier), what="all readings upstream")
    assert collector.messages == before + during + barrier  # exactly once each, in order
    assert "gtx_gw_upstream_reconnects_total" in gw.metrics()
    assert '"upstream unavailable"' in gw.logs()


def test_full_outbox_holds_local_acks_and_loses_nothing(
        mosquitto_factory, gateway_factory, collector_factory):
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream, extra="outbox_max_messages = 5\nbatch_size = 4").start()
    (meter,) = meters("mtr-full")

    upstream.stop()
    sent = [(reading_topic(meter.meter_id), meter.next()) for _ in range(23)]
    publish(local, sent)  # the local broker accepts them all; the gateway takes 5
    wait_until(lambda: gw.health()["outbox_full"] is True, what="outbox full")
    health = gw.health()
    assert health["outbox_depth"] == 5 and health["accepted_total"] == 5 and health["status"] == "degraded"
    assert "gtx_gw_outbox_full 1.0" in gw.metrics()

    upstream.start()
    wait_until(lambda: collector.count() >= len(sent), what="the backlog upstream")
    wait_until(lambda: gw.health()["status"] == "ok", what="outbox drained")
    assert collector.messages == sent
    assert gw.health()["outbox_full"] is False and '"outbox full: holding local acknowledgements"' in gw.logs()
