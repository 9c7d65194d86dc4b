"""Uplink policy: connect with backoff, drain the ring in order, keep alive.

Protocol lives in transport/mqtt.py; this module decides when to talk.
Records leave the ring oldest first, one QoS 1 publish in flight, and are
acknowledged in the ring only after the broker's PUBACK, so an outage or a
reboot can duplicate a record but never lose or reorder one. Missing runs
(overwritten or torn slots) are sent as signed gap records.

On connect the meter publishes a retained "online" on its status topic; the
MQTT will publishes "offline" there when the link dies without DISCONNECT.
"""

import time

from signing.envelope import gap_payload, reading_topic, status_topic, wire_message
from transport.backoff import Backoff
from transport.mqtt import MQTTClient, MQTTError
from transport.net import open_stream


class Uplink:
    """Delivers ``ring`` records to the broker described by ``broker`` config."""

    def __init__(self, meter_id, broker, ring, signer, clock, fw, rng,
                 connector=open_stream, log=print):
        self.meter_id = meter_id
        self._broker = broker
        self._ring = ring
        self._signer = signer
        self._clock = clock
        self._fw = fw
        self._connector = connector
        self._log = log
        self._topic = reading_topic(meter_id)
        self._status = status_topic(meter_id)
        self.mqtt = MQTTClient(
            "gtx-" + meter_id, broker.keepalive_s, broker.username, broker.password,
            will=(self._status, b"offline", 1, True),
        )
        self.backoff = Backoff(broker.backoff_initial_ms, broker.backoff_max_ms, rng)
        self._last_tx = time.ticks_ms()
        self.published = 0
        self.gaps = 0

    @property
    def connected(self):
        return self.mqtt.connected

    def _fail(self, exc, what):
        self.mqtt.close()
        wait = self.backoff.failure()
        self._log("uplink: %s failed (%s); retry in %d ms" % (what, exc, wait))

    def _connect(self):
        b = self._broker
        try:
            stream = self._connector(b.host, b.port, b.timeout_ms, b.tls, b.ca_file)
            self.mqtt.connect(stream)
            self.mqtt.publish(self._status, b"online", 1, True)
        except (MQTTError, OSError) as exc:
            self._fail(exc, "connect")
            return False
        self.backoff.success()
        self._last_tx = time.ticks_ms()
        self._log("uplink: connected to %s:%d" % (b.host, b.port))
        return True

    def _message(self, rec):
        """(wire bytes, seq to acknowledge) for a ring record."""
        if rec[0] == "reading":
            return wire_message(self.meter_id, rec[2], rec[3]), rec[1]
        _, from_seq, to_seq = rec
        ts, valid = self._clock.now()
        payload = gap_payload(self.meter_id, from_seq, to_seq, ts, valid, self._fw)
        self._log("uplink: gap %d..%d" % (from_seq, to_seq))
        return wire_message(self.meter_id, payload, self._signer.sign(payload)), to_seq

    def service(self, budget=16, feed=None):
        """Connect if due, then publish up to ``budget`` pending records.

        Returns the number of records delivered. ``feed`` is called between
        publishes (the watchdog) because a long drain can outlast its timeout.
        """
        if not self.mqtt.connected:
            if not self.backoff.ready() or not self._connect():
                return 0
        sent = 0
        while sent < budget:
            rec = self._ring.next_pending()
            if rec is None:
                break
            wire, seq = self._message(rec)
            try:
                self.mqtt.publish(self._topic, wire, 1)
            except (MQTTError, OSError) as exc:
                self._fail(exc, "publish seq %d" % seq)
                return sent
            self._ring.ack(seq)
            self._last_tx = time.ticks_ms()
            sent += 1
            self.published += 1
            if rec[0] == "gap":
                self.gaps += 1
            if feed is not None:
                feed()
        self._keepalive()
        return sent

    def _keepalive(self):
        # Ping at half the keepalive so the broker never sees a silent client,
        # and a dead link is found before the next reading needs it.
        idle = time.ticks_diff(time.ticks_ms(), self._last_tx)
        if self.mqtt.connected and idle >= self._broker.keepalive_s * 500:
            try:
                self.mqtt.ping()
                self._last_tx = time.ticks_ms()
            except (MQTTError, OSError) as exc:
                self._fail(exc, "ping")

    def close(self):
        """Clean disconnect (no will)."""
        self.mqtt.disconnect()
