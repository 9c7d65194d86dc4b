"""The meter loop: read, sign, store, publish -- wired from config at boot.

Every interval: one Modbus request for the whole register block, integer
values, the next sequence number, a timestamp (or ``clk=0``), Ed25519
signature over the exact payload bytes, then a durable write to the flash
ring *before* anything is sent. The uplink drains the ring whenever the
network and broker are reachable. A failed meter read produces no record
(nothing is invented); it is logged and shown on the status LED.
"""

import gc
import time

from meter.modbus_rtu import ModbusError, ModbusMaster
from meter.reading import ReadingError, decode_block
from signing.envelope import reading_payload
from transport.ring import Ring
from transport.uplink import Uplink
from version import FW_VERSION

NTP_RESYNC_MS = 3600 * 1000  # after a successful sync
NTP_RETRY_MS = 60 * 1000  # after a failed one: readings are clk=0 until it works


class App:
    """The wired firmware. ``hw`` is an adapter module (hw/esp32, hw/posix)."""

    def __init__(self, cfg, hw, model, signer, root, ring_opener=open, log=print):
        self.cfg = cfg
        self.hw = hw
        self._log = log
        self.wdt = hw.Watchdog(cfg.wdt_timeout_ms)
        self.led = hw.Led(cfg.led_pin)
        self.led.set("booting")
        self.clock = hw.Clock()
        self.net = hw.Network(cfg.wifi)
        self.signer = signer
        self.ring = Ring(root + "ring.bin", cfg.ring_slots, ring_opener)
        log("ring: last seq %d, acked %d" % (self.ring.last_seq, self.ring.acked))
        self.model = model
        self.master = ModbusMaster(hw.uart(cfg.meter, model), cfg.meter.timeout_ms, model["baud"])
        self.uplink = Uplink(cfg.meter_id, cfg.broker, self.ring, self.signer, self.clock,
                             FW_VERSION, hw.rng, log=log)
        self.readings = 0
        self.read_failures = 0
        self._read_ok = True
        self._next_sync = None

    def read_meter(self):
        """Integer values from one block read, or None after the configured
        retries (nothing is invented for a failed read)."""
        m = self.model
        for attempt in range(self.cfg.meter.retries + 1):
            try:
                block = self.master.read_registers(self.cfg.meter.slave_id, m["block_start"],
                                                   m["block_count"])
                return decode_block(block, m["fields"])
            except (ModbusError, ReadingError) as exc:
                self._log("meter: read attempt %d failed: %s" % (attempt + 1, exc))
        return None

    def take_reading(self):
        """One read-sign-store cycle; returns the stored seq or 0 on a failed read."""
        values = self.read_meter()
        if values is None:
            self.read_failures += 1
            self._read_ok = False
            return 0
        self._read_ok = True
        ts, valid = self.clock.now()
        seq = self.ring.last_seq + 1
        payload = reading_payload(self.cfg.meter_id, seq, ts, valid, self.cfg.interval_s,
                                  values, FW_VERSION)
        sig = self.signer.sign(payload)
        self.ring.append(seq, payload, sig)
        self.readings += 1
        return seq

    def _maybe_sync_clock(self):
        now = time.ticks_ms()
        if self._next_sync is not None and time.ticks_diff(now, self._next_sync) < 0:
            return
        if self.clock.sync(self.cfg.ntp_host):
            self._next_sync = time.ticks_add(now, NTP_RESYNC_MS)
        else:
            self._next_sync = time.ticks_add(now, NTP_RETRY_MS)
            self._log("clock: NTP sync failed; readings marked clk=0")

    def service_uplink(self):
        """Give the uplink a turn; returns records delivered."""
        sent = 0
        if self.net.ready():
            self._maybe_sync_clock()
            sent = self.uplink.service(feed=self.wdt.feed)
        self.show_status()
        return sent

    def show_status(self):
        """LED: meter_error beats offline beats ok."""
        if not self._read_ok:
            self.led.set("meter_error")
        elif self.uplink.connected:
            self.led.set("ok")
        else:
            self.led.set("offline")

    def run(self, max_readings=0, drain_timeout_ms=30000):
        """Loop forever; with ``max_readings`` stop after that many readings
        once the ring is drained (or ``drain_timeout_ms`` later) and return the
        number of records still undelivered (0: everything was acknowledged)."""
        interval_ms = self.cfg.interval_s * 1000
        next_read = time.ticks_ms()
        done_at = None
        while True:
            self.wdt.feed()
            now = time.ticks_ms()
            if done_at is None and time.ticks_diff(now, next_read) >= 0:
                self.take_reading()
                # Schedule from the previous slot, not from now, so the
                # interval does not drift by the time a cycle takes.
                next_read = time.ticks_add(next_read, interval_ms)
                if time.ticks_diff(next_read, now) < 0:
                    next_read = time.ticks_add(now, interval_ms)
                if max_readings and self.readings >= max_readings:
                    done_at = now
            self.service_uplink()
            if done_at is not None:
                if self.ring.pending_count() == 0:
                    self.uplink.close()
                    return 0
                if time.ticks_diff(time.ticks_ms(), done_at) > drain_timeout_ms:
                    self._log("app: drain timed out with %d pending" % self.ring.pending_count())
                    self.uplink.close()
                    return self.ring.pending_count()
            gc.collect()
            wait = time.ticks_diff(next_read, time.ticks_ms())
            time.sleep_ms(max(1, min(wait, 100)))
