# The uplink's keepalive on an idle link: pings keep a 1 s keepalive session
# up for 2 s; after the test stops the broker (it answers "go" on stdin),
# the next ping notices the dead link.
import os
import sys
import time

from section import Section
from transport.ring import Ring
from transport.uplink import Uplink

broker = Section({"host": "127.0.0.1", "port": int(os.getenv("GTX_PORT")), "tls": False,
                  "ca_file": "", "username": "", "password": "", "keepalive_s": 1,
                  "timeout_ms": 1000, "backoff_initial_ms": 100, "backoff_max_ms": 200})
ring = Ring(os.getenv("GTX_RING"), 8)
up = Uplink("mtr-ka", broker, ring, None, None, "1.0.0", os.urandom)
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 2000:
    up.service()
    time.sleep_ms(50)
print("idle-connected", up.connected)
print("ready")
sys.stdin.readline()
t0 = time.ticks_ms()
while up.connected and time.ticks_diff(time.ticks_ms(), t0) < 3000:
    up.service()
    time.sleep_ms(50)
print("after-stop-connected", up.connected)
