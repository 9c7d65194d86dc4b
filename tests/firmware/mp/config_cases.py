# config.parse on each case's JSON text: summary of the result or the error.
from harness import cases, result

import config

for c in cases():
    try:
        cfg = config.parse(c["text"])
        result({"ok": [cfg.meter_id, cfg.broker.port, cfg.broker.tls, cfg.meter.model,
                       cfg.meter.retries, cfg.interval_s, cfg.ring_slots, repr(cfg.wifi)]})
    except config.ConfigError as exc:
        result({"reason": exc.reason, "key": exc.key})
