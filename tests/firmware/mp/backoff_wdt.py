# Backoff delays (growth, cap, jitter bounds, reset) and the unix-port watchdog.
import os
import time

from harness import cases, result
from hw.posix import Watchdog
from transport.backoff import Backoff

for c in cases():
    if c["op"] == "backoff":
        b = Backoff(c["initial_ms"], c["max_ms"], os.urandom)
        waits = [b.failure() for _ in range(c["failures"])]
        ready_now = b.ready()
        b.success()
        result({"waits": waits, "ready_after_failure": ready_now, "ready_after_success": b.ready(),
                "failures_after_success": b.failures})
    elif c["op"] == "wdt":
        w = Watchdog(c["timeout_ms"])
        w.feed()
        time.sleep_ms(c["late_ms"])
        result("fed")
        w.feed()  # too late: the process ends with status 75
        result("survived")
