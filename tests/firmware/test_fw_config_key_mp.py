"""Boot-time config validation and the device key store, on MicroPython."""

from __future__ import annotations

import json
from pathlib import Path

import nacl.signing

from tests.support.micropython import run_cases

MP_DIR = Path(__file__).parent / "mp"

GOOD = {
    "meter_id": "mtr-0001",
    "wifi": {"ssid": "site-lan", "password": "s3cret-wifi"},
    "broker": {"host": "192.168.1.10"},
    "meter": {"model": "sdm120", "slave_id": 1},
    "interval_s": 60,
}


def _with(path: str, value: object) -> str:
    cfg = json.loads(json.dumps(GOOD))
    *parents, leaf = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return json.dumps(cfg)


BAD = [
    ("not json", "{", "malformed_json", ""),
    ("list", "[]", "bad_type", "<root>"),
    ("missing meter_id", _with("meter_id", KeyError), "missing_key", "meter_id"),
    ("typo key", _with("interval_sec", 60), "unknown_key", "interval_sec"),
    ("nested typo", _with("broker.prot", 1883), "unknown_key", "broker.prot"),
    ("port as string", _with("broker.port", "1883"), "bad_type", "broker.port"),
    ("port range", _with("broker.port", 70000), "bad_value", "broker.port"),
    ("bool is not int", _with("interval_s", True), "bad_type", "interval_s"),
    ("interval zero", _with("interval_s", 0), "bad_value", "interval_s"),
    ("unknown model", _with("meter.model", "sdm999"), "bad_value", "meter.model"),
    ("slave id", _with("meter.slave_id", 248), "bad_value", "meter.slave_id"),
    ("meter id chars", _with("meter_id", "mtr/1"), "bad_value", "meter_id"),
    ("meter id long", _with("meter_id", "m" * 33), "bad_value", "meter_id"),
    ("wifi missing", _with("wifi", KeyError), "missing_key", "wifi"),
    ("tls as int", _with("broker.tls", 1), "bad_type", "broker.tls"),
    ("ca without tls", _with("broker.ca_file", "/ca.pem"), "bad_value", "broker.ca_file"),
    ("backoff inverted", _with("broker.backoff_initial_ms", 90000), "bad_value",
     "broker.backoff_initial_ms"),
]


def test_config_validation(fw_build: Path, tmp_path: Path) -> None:
    cases = [{"text": json.dumps(GOOD)}] + [{"text": t} for _, t, _, _ in BAD]
    out = run_cases("config_cases", cases, build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)
    meter_id, port, tls, model, retries, interval, slots, wifi = out[0]["ok"]
    assert (meter_id, port, tls, model, retries, interval, slots) == (
        "mtr-0001", 1883, False, "sdm120", 1, 60, 512)
    assert "s3cret" not in wifi and "***" in wifi  # secrets never printed
    for (name, _, reason, key), got in zip(BAD, out[1:], strict=True):
        assert got == {"reason": reason, "key": key}, name


def test_key_created_once_then_reloaded(fw_build: Path, tmp_path: Path) -> None:
    key = str(tmp_path / "key.ed25519")
    cases = [{"path": key}, {"path": key}, {"path": str(tmp_path / "k2"), "rng": "zeros"}]
    out = run_cases("keystore_cases", cases, build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)
    first, second, broken_rng = out
    assert first["created"] is True and second["created"] is False
    assert first["pub"] == second["pub"]
    blob = Path(key).read_bytes()
    assert len(blob) == 36
    signing_key = nacl.signing.SigningKey(blob[:32])
    assert bytes(signing_key.verify_key).hex() == first["pub"]
    nacl.signing.VerifyKey(bytes.fromhex(first["pub"])).verify(b"probe", bytes.fromhex(first["sig"]))
    assert broken_rng == {"reason": "rng_failure"}
    assert not (tmp_path / "k2").exists()

    damaged = bytearray(blob)
    damaged[5] ^= 1
    Path(key).write_bytes(bytes(damaged))
    out = run_cases("keystore_cases", [{"path": key}], build_dir=fw_build, script_dir=MP_DIR,
                    tmp_dir=tmp_path)
    assert out == [{"reason": "corrupt_key_file"}]
    assert Path(key).read_bytes() == bytes(damaged)  # never silently replaced
