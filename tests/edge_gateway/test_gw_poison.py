"""Poison messages on the local broker: each costs one reject row, none stops the gateway.

A message the gateway cannot relay is rejected, recorded in a storable form and
acknowledged, so the broker does not redeliver it into a crash loop; readings published
after it still go upstream.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from common.envelope import reading_topic
from edge_gateway.storage.outbox import Outbox
from tests.edge_gateway.gw_helpers import meters, publish, wait_until


def _with_extra_key(reading: bytes, key_json: bytes) -> bytes:
    """``reading`` (a JSON object) with one more key in front, spelled as given."""
    assert reading.startswith(b"{")
    return b"{" + key_json + b": 1, " + reading[1:]


def test_lone_surrogate_key_is_rejected_once_and_later_readings_are_relayed(
        mosquitto_factory, gateway_factory, collector_factory):
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream).start()
    (meter,) = meters("mtr-a")
    topic = reading_topic("mtr-a")
    first, poison_base, second, third = meter.next(), meter.next(), meter.next(), meter.next()
    poison = _with_extra_key(poison_base, b'"\\ud800"')  # valid JSON text, a lone surrogate key

    publish(local, [(topic, first), (topic, poison), (topic, second), (topic, third)])
    wait_until(lambda: collector.count() >= 3, what="the three valid readings upstream")
    assert collector.payloads() == [first, second, third]
    assert gw.proc is not None and gw.proc.poll() is None  # still running
    assert gw.health()["rejects"] == {"unexpected_field": 1}

    # A restart finds nothing to redeliver: the poison was acknowledged once.
    assert gw.terminate() == 0
    gw.start()
    fourth = meter.next()
    publish(local, [(topic, fourth)])
    wait_until(lambda: collector.count() >= 4, what="a reading after the restart")
    assert gw.health()["rejects"] == {}
    assert gw.terminate() == 0
    with Outbox(gw.config.parent / "outbox.sqlite3", 10) as outbox:
        kept = outbox.rejects()
    assert [(r.reason, r.detail, r.payload) for r in kept] == [("unexpected_field", "\\ud800", poison)]


# Keys a meter would never send: lone surrogates, escapes, control characters, non-ASCII.
_odd_keys = st.one_of(
    st.sampled_from([b'"\\ud800"', b'"\\udfff"', b'"\\udc80x"', b'"\\u0000"', b'"\\ud83d\\ude00"', b'""']),
    st.text(st.characters(codec="utf-8"), max_size=8).map(lambda s: json.dumps(s).encode()),
    st.text(st.characters(categories=["Cs", "Cc", "Lo"]), min_size=1, max_size=4).map(
        lambda s: json.dumps(s).encode()),
)
# Anything a broken or hostile publisher could send as a payload.
_payloads = st.one_of(
    st.binary(max_size=3000),
    st.text(st.characters(codec="utf-8"), max_size=200).map(str.encode),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
)


def test_fuzzed_payloads_never_stop_the_gateway(mosquitto_factory, gateway_factory, collector_factory):
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream).start()
    (meter,) = meters("mtr-a")
    topic = reading_topic("mtr-a")
    relayed: list[bytes] = []
    poisons = 0

    def arrived(good: bytes) -> bool:
        # Fail at once, not after a timeout, when the poison stopped the gateway.
        assert gw.proc is not None and gw.proc.poll() is None, gw.logs()[-2000:]
        return good in collector.payloads()

    # The gateway is one long-lived process, so shrinking (replaying smaller inputs
    # against a gateway that may already be dead) would say nothing: generate only.
    @settings(max_examples=150, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @example(payload=b"\xff\xfe", key=b'"\\ud800"', meter_level="mtr-a")
    @given(payload=_payloads, key=_odd_keys, meter_level=st.text(st.characters(
           categories=["L", "N", "P", "S"], exclude_characters="/+#"), min_size=1, max_size=40))
    def poison_then_reading(payload: bytes, key: bytes, meter_level: str) -> None:
        nonlocal poisons
        good = meter.next()
        poison = [(topic, payload), (topic, _with_extra_key(meter.next(), key)),
                  (f"gtx/v1/meters/{meter_level}/readings", payload)]
        publish(local, [*poison, (topic, good)])
        poisons += len(poison)
        relayed.append(good)
        wait_until(lambda: arrived(good), timeout_s=10, what="the reading after the poison")

    poison_then_reading()
    # Every valid reading went upstream, in order, and nothing else did.
    assert collector.payloads() == relayed
    rejects = gw.health()["rejects"]
    assert isinstance(rejects, dict)
    assert sum(rejects.values()) <= poisons
    assert gw.terminate() == 0
