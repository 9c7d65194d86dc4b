"""JSON config on flash, validated at boot; a bad config stops the boot.

Every key is declared below with its type and range. Unknown keys are
errors (a typo must not silently fall back to a default), and the few
optional keys have their defaults written in the schema, nowhere else.

Example (/config.json)::

    {"meter_id": "mtr-0001",
     "wifi": {"ssid": "site-lan", "password": "..."},
     "broker": {"host": "192.168.1.10", "port": 1883},
     "meter": {"model": "sdm120", "slave_id": 1},
     "interval_s": 60}
"""

import json

from meter.regmap import MODELS
from section import Section
from wire import METER_ID_CHARS, METER_ID_MAX_LEN

_REQUIRED = object()

# key: (type, default or _REQUIRED, lo, hi) -- the inclusive range of an int,
# or of a str's length; nested sections are (dict, _REQUIRED, schema, None).
# Plain tuples, not validator functions: this module is unloaded after boot,
# but it must also fit the heap while it runs.
_WIFI = {
    "ssid": (str, _REQUIRED, 1, 32),
    "password": (str, _REQUIRED, 0, 64),
}
_BROKER = {
    "host": (str, _REQUIRED, 1, 253),
    "port": (int, 1883, 1, 65535),
    "tls": (bool, False, 0, 1),
    "ca_file": (str, "", 0, 128),
    "username": (str, "", 0, 128),
    "password": (str, "", 0, 128),
    "keepalive_s": (int, 60, 5, 3600),
    "timeout_ms": (int, 5000, 100, 60000),
    "backoff_initial_ms": (int, 1000, 10, 60000),
    "backoff_max_ms": (int, 60000, 10, 3600000),
}
_METER = {
    "model": (str, _REQUIRED, 1, 32),  # must also be a key of regmap.MODELS
    "slave_id": (int, _REQUIRED, 1, 247),
    # Serial device path; only the unix port uses it (e.g. /dev/ttyUSB0).
    "device": (str, "", 0, 128),
    "uart_id": (int, 2, 0, 2),
    "tx_pin": (int, 17, 0, 48),
    "rx_pin": (int, 16, 0, 48),
    "de_pin": (int, 4, 0, 48),
    "timeout_ms": (int, 500, 20, 10000),
    "retries": (int, 1, 0, 5),
}
_SCHEMA = {
    "meter_id": (str, _REQUIRED, 1, METER_ID_MAX_LEN),  # also limited to METER_ID_CHARS
    "wifi": (dict, _REQUIRED, _WIFI, None),
    "broker": (dict, _REQUIRED, _BROKER, None),
    "meter": (dict, _REQUIRED, _METER, None),
    "interval_s": (int, _REQUIRED, 1, 86400),
    "ntp_host": (str, "pool.ntp.org", 1, 253),
    "ring_slots": (int, 512, 8, 8192),
    "wdt_timeout_ms": (int, 30000, 5000, 600000),
    "led_pin": (int, 2, -1, 48),
}


class ConfigError(Exception):
    """Invalid config; ``reason``: unreadable, malformed_json, missing_key,
    unknown_key, bad_type, bad_value. ``key`` is the dotted path."""

    def __init__(self, reason, key=""):
        super().__init__(reason + (": " + key if key else ""))
        self.reason = reason
        self.key = key


def _type_ok(value, typ):
    if typ is int:
        return type(value) is int  # JSON true/false must not pass as 0/1
    return type(value) is typ


def _validate(obj, schema, prefix):
    if type(obj) is not dict:
        raise ConfigError("bad_type", prefix or "<root>")
    for key in obj:
        if key not in schema:
            raise ConfigError("unknown_key", prefix + key)
    out = {}
    for key, (typ, default, lo, hi) in schema.items():
        path = prefix + key
        if key not in obj:
            if default is _REQUIRED:
                raise ConfigError("missing_key", path)
            out[key] = default
            continue
        value = obj[key]
        if not _type_ok(value, typ):
            raise ConfigError("bad_type", path)
        if typ is dict:
            value = _validate(value, lo, path + ".")
        elif typ is not bool and not lo <= (len(value) if typ is str else value) <= hi:
            raise ConfigError("bad_value", path)
        out[key] = value
    return out


def parse(text):
    """Validate config JSON text; returns a Section or raises ConfigError."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise ConfigError("malformed_json")
    values = _validate(obj, _SCHEMA, "")
    broker = values["broker"]
    if not all(c in METER_ID_CHARS for c in values["meter_id"]):
        raise ConfigError("bad_value", "meter_id")
    if values["meter"]["model"] not in MODELS:
        raise ConfigError("bad_value", "meter.model")
    if broker["backoff_initial_ms"] > broker["backoff_max_ms"]:
        raise ConfigError("bad_value", "broker.backoff_initial_ms")
    if broker["tls"] is False and broker["ca_file"]:
        raise ConfigError("bad_value", "broker.ca_file")
    return _sections(values)


def _sections(values):
    """Validated dicts as (nested) Sections for attribute access."""
    return Section({k: _sections(v) if type(v) is dict else v for k, v in values.items()})


def load(path):
    """Read and validate the config file at ``path``."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("unreadable", path)
    return parse(text)
