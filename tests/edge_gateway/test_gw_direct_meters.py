"""Meters wired to the Pi: emulated SDM meters (Modbus TCP and RTU on a socat pty) polled by
the real gateway process, readings signed with its own key, relayed through two real brokers."""

from __future__ import annotations

import json
import re
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.envelope import Envelope, parse_envelope, reading_topic, verify
from edge_gateway.config import load_config
from edge_gateway.errors import ConfigError, MeterError
from edge_gateway.meters.convert import decode_block
from edge_gateway.storage.outbox import Outbox
from hardware.emulators import ManualClock
from hardware.registers import load_model
from tests.edge_gateway.gw_helpers import ROOT, GatewayProc, wait_until
from tests.edge_gateway.meter_helpers import EmulatorThread, direct_meter_toml, firmware_values, wh


@pytest.fixture
def emulators() -> Iterator[EmulatorThread]:
    pool = EmulatorThread()
    yield pool
    pool.close()


def _print_public_key(gw: GatewayProc) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_gateway", "--config", str(gw.config), "--print-public-key"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)


def _envelopes(payloads: list[bytes], meter_id: str) -> list[Envelope]:
    return [e for e in map(parse_envelope, payloads) if e.meter == meter_id]


def _direct_config(tmp_path: Path, meters: str) -> str:
    return f'signing_key_file = "{tmp_path / "gateway.ed25519"}"\n{meters}'


def test_tcp_and_rtu_meters_are_read_signed_with_the_printed_key_and_relayed(
        tmp_path, emulators, mosquitto_factory, gateway_factory, collector_factory):
    clock = ManualClock(12 * 3600.0)  # frozen: the registers hold still between polls
    tcp = emulators.start(model="sdm630", transport="tcp", unit_id=3, seed=5, clock=clock,
                          initial_import_kwh=1234.5678, initial_export_kwh=98.7654)
    rtu = emulators.start(model="sdm120", transport="rtu", seed=6, clock=ManualClock(13 * 3600.0),
                          initial_import_kwh=4321.0009, initial_export_kwh=0.5)
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream, extra=_direct_config(
        tmp_path, direct_meter_toml("mtr-pi-tcp", tcp) + direct_meter_toml("mtr-pi-rtu", rtu, timeout_s=0.8)))

    # The key is created on first use, private to the gateway's user, and stays the same.
    printed = _print_public_key(gw)
    assert printed.returncode == 0, printed.stderr
    public_key = bytes.fromhex(printed.stdout.strip())
    key_file = tmp_path / "gateway.ed25519"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_bytes()) == 32
    assert _print_public_key(gw).stdout == printed.stdout

    gw.start()
    before = time.time()
    wait_until(lambda: all(len(_envelopes(collector.payloads(), m)) >= 2 for m in ("mtr-pi-tcp", "mtr-pi-rtu")),
               what="two readings of each direct meter upstream")

    # The TCP meter's block as a second client reads it, converted by the firmware's code.
    block = tcp.model.firmware_block
    expected_tcp = firmware_values(emulators.read_block(tcp, block.start, block.count), block.offsets)
    assert expected_tcp["imp_wh"] == wh(1234.5678) == 1234568 and expected_tcp["exp_wh"] == wh(98.7654)
    for topic, raw in collector.messages:
        env = parse_envelope(raw)
        verify(env, public_key)  # raises EnvelopeError("bad_signature") otherwise
        assert topic == reading_topic(env.meter)
        r = env.reading
        assert (r["kind"], r["clk"], r["int_s"], r["fw"]) == ("reading", 1, 1, "gw-1.0.0")
        assert before - 60 < r["ts"] <= time.time() + 1
        if env.meter == "mtr-pi-tcp":
            assert {k: r[k] for k in expected_tcp} == expected_tcp
        else:
            assert (r["imp_wh"], r["exp_wh"]) == (wh(4321.0009), wh(0.5))

    # Two simulated hours of a sunny noon: the counters move, the readings follow them.
    emulators.call(lambda: clock.advance(2 * 3600.0))
    wait_until(lambda: any(e.reading["imp_wh"] != 1234568 or e.reading["exp_wh"] != wh(98.7654)
                           for e in _envelopes(collector.payloads(), "mtr-pi-tcp")), what="a moved counter")
    counters = emulators.call(lambda: (tcp.state.counters.import_kwh, tcp.state.counters.export_kwh))
    last = _envelopes(collector.payloads(), "mtr-pi-tcp")[-1].reading
    assert (last["imp_wh"], last["exp_wh"]) == (wh(counters[0]), wh(counters[1]))
    assert last["exp_wh"] > wh(98.7654) + 1000  # the PV roof exported more than 1 kWh

    for meter_id in ("mtr-pi-tcp", "mtr-pi-rtu"):
        seqs = [e.seq for e in _envelopes(collector.payloads(), meter_id)]
        assert seqs == list(range(1, len(seqs) + 1))
    health = gw.health()
    assert health["direct_meters"]["mtr-pi-rtu"]["errors"] == {}  # type: ignore[index]
    assert re.search(r'gtx_gw_direct_readings_total\{meter="mtr-pi-rtu"\} [1-9]', gw.metrics())
    assert gw.terminate() == 0


def test_sequence_continues_after_a_restart_without_repeating(
        tmp_path, emulators, mosquitto_factory, gateway_factory, collector_factory):
    meter = emulators.start(model="sdm120", transport="tcp", seed=2, acceleration=600, start_s=11 * 3600)
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream, extra=_direct_config(tmp_path, direct_meter_toml("mtr-pi", meter)))
    gw.start()
    wait_until(lambda: collector.count() >= 2, what="two readings before the restart")
    assert gw.terminate() == 0
    with Outbox(gw.config.parent / "outbox.sqlite3", 10) as outbox:
        stored = outbox.last_own_seq("mtr-pi")
    assert stored >= 2

    gw.start()
    wait_until(lambda: collector.count() >= stored + 2, what="two readings after the restart")
    assert gw.terminate() == 0
    envs = [parse_envelope(p) for p in collector.payloads()]
    assert [e.seq for e in envs] == list(range(1, len(envs) + 1))  # continues, no repeat, no hole
    imports = [e.reading["imp_wh"] for e in envs]
    assert imports == sorted(imports)  # cumulative counters never go back


def test_modbus_faults_produce_no_reading_and_a_counted_error(
        tmp_path, emulators, mosquitto_factory, gateway_factory, collector_factory):
    meter = emulators.start(model="sdm120", transport="tcp", seed=3, clock=ManualClock(10 * 3600.0))
    local, upstream = mosquitto_factory(), mosquitto_factory()
    collector = collector_factory(upstream)
    gw = gateway_factory(local, upstream, extra=_direct_config(
        tmp_path, direct_meter_toml("mtr-pi", meter, timeout_s=0.3)))
    gw.start()
    wait_until(lambda: collector.count() >= 1, what="a first reading")

    def errors() -> dict[str, int]:
        return gw.health()["direct_meters"]["mtr-pi"]["errors"]  # type: ignore[index,no-any-return]

    # Exception 06 (busy) twice, then two requests never answered.
    emulators.call(lambda: meter.inject("busy", count=2))
    wait_until(lambda: errors().get("modbus_exception") == 2, what="two busy answers counted")
    emulators.call(lambda: meter.inject("timeout", count=2))
    wait_until(lambda: errors().get("no_response") == 2, what="two unanswered requests counted")
    readings_after_faults = int(gw.health()["direct_meters"]["mtr-pi"]["readings"])  # type: ignore[index]
    wait_until(lambda: collector.count() >= readings_after_faults + 1, what="readings resume")
    assert gw.terminate() == 0

    applied = emulators.call(lambda: {k.value: v for k, v in meter.plan.applied.items()})
    assert applied == {"busy": 2, "timeout": 2}  # each counted error was a real wire fault
    assert errors_in_log(gw) == ["modbus_exception"] * 2 + ["no_response"] * 2
    seqs = [parse_envelope(p).seq for p in collector.payloads()]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing stood in for the failed polls
    with Outbox(gw.config.parent / "outbox.sqlite3", 10) as outbox:
        assert outbox.last_own_seq("mtr-pi") == len(seqs)


def errors_in_log(gw: GatewayProc) -> list[str]:
    lines = [json.loads(line) for line in gw.logs().splitlines() if '"direct meter read failed"' in line]
    assert all(line["meter"] == "mtr-pi" and line["detail"] for line in lines)
    return [line["reason"] for line in lines]


# --------------------------------------------------------------------------- config and key

_BASE = 'gateway_id = "gw-1"\noutbox_path = "/tmp/o.sqlite3"\n{top}\n[upstream]\nhost = "cloud"\n{meters}'
_TCP = '[[direct_meters]]\nmeter_id = "m1"\nmodel = "sdm120"\ntransport = "tcp"\nhost = "10.0.0.5"\ninterval_s = 60\n'


def _load(tmp_path: Path, meters: str, top: str | None = None) -> object:
    key = tmp_path / "gw.key"
    path = tmp_path / "gateway.toml"
    path.write_text(_BASE.format(top=f'signing_key_file = "{key}"' if top is None else top, meters=meters))
    return load_config(path)


def test_direct_meter_settings_are_typed_with_model_defaults(tmp_path):
    rtu = '[[direct_meters]]\nmeter_id = "m2"\nmodel = "sdm630"\ntransport = "rtu"\ndevice = "/dev/ttyUSB0"\n' \
          'interval_s = 30\nslave_id = 4\nparity = "E"\n'
    cfg = _load(tmp_path, _TCP + rtu)
    tcp_meter, rtu_meter = cfg.direct_meters  # type: ignore[attr-defined]
    assert (tcp_meter.port, tcp_meter.unit_id, tcp_meter.timeout_s) == (502, 1, 1.0)
    assert (rtu_meter.unit_id, rtu_meter.serial) == (4, (9600, "E", 1))


@pytest.mark.parametrize(("meters", "top", "expected"), [
    (_TCP, "", "direct_meters need signing_key_file"),
    (_TCP.replace("sdm120", "sdm999"), None,
     "direct_meters[0].tcp.model: Value error, no register map for 'sdm999' (known: sdm120, sdm630)"),
    (_TCP.replace('transport = "tcp"\n', ""), None, "direct_meters[0]: Unable to extract tag using discriminator"),
    (_TCP.replace('transport = "tcp"', 'transport = "udp"'), None, "direct_meters[0]: Input tag 'udp'"),
    (_TCP + 'device = "/dev/ttyUSB0"\n', None, "direct_meters[0].tcp.device: Extra inputs are not permitted"),
    (_TCP.replace('host = "10.0.0.5"\n', ""), None, "direct_meters[0].tcp.host: Field required"),
    (_TCP.replace("interval_s = 60", "interval_s = 0"), None,
     "direct_meters[0].tcp.interval_s: Input should be greater than or equal to 1"),
    (_TCP.replace("interval_s = 60", "interval_s = 1\ntimeout_s = 2"), None, "timeout_s must be shorter than interval_s"),
    (_TCP + _TCP, None, "meter_id used twice: m1"),
    (_TCP + _TCP.replace('"m1"', '"m2"'), None, "direct_meters on 10.0.0.5:502: two meters with the same slave_id"),
    (_TCP.replace('transport = "tcp"\nhost = "10.0.0.5"', 'transport = "rtu"\ndevice = "/dev/ttyUSB0"\nbaud = 19200'),
     None, "baud 19200 is not one sdm120 supports (1200, 2400, 4800, 9600)"),
])
def test_invalid_direct_meter_settings_fail_with_clear_messages(tmp_path, meters, top, expected):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, meters, top)
    assert expected in str(info.value)


def test_a_damaged_or_exposed_key_file_stops_the_start(tmp_path):
    key = tmp_path / "gw.key"
    key.write_bytes(b"\x01" * 31)
    key.chmod(0o600)
    with pytest.raises(ConfigError, match="holds 31 bytes, expected a 32-byte Ed25519 seed"):
        _load(tmp_path, _TCP)
    key.write_bytes(b"\x01" * 32)
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644 lets others read the key; chmod 600"):
        _load(tmp_path, _TCP)
    key.chmod(0o600)
    assert _load(tmp_path, _TCP).signing_key_file == key  # type: ignore[attr-defined]


def test_print_public_key_needs_a_key_file(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(_BASE.format(top="", meters=""))
    out = subprocess.run([sys.executable, "-m", "edge_gateway", "--config", str(path), "--print-public-key"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--print-public-key needs signing_key_file" in out.stderr


# --------------------------------------------------------------------------- conversion


def test_conversion_gives_exact_integers_and_refuses_what_is_not_a_reading():
    """The gateway decodes with the firmware's own rule; its refusals carry the reasons."""
    block = load_model("sdm120").firmware_block
    values = {"import_energy_kwh": 12345.678, "export_energy_kwh": 0.0015, "voltage_v": 230.1,
              "current_a": -4.2, "active_power_w": -966.0, "power_factor": -1.0000001, "frequency_hz": 49.995}

    def raw(**override: float) -> bytes:
        words = bytearray(block.count * 2)
        for name, value in {**values, **override}.items():
            struct.pack_into(">f", words, block.offsets[name] * 2, value)
        return bytes(words)

    decoded = decode_block(raw(), block.offsets)
    exact = {k: round(struct.unpack(">f", struct.pack(">f", v))[0] * s) for k, (v, s) in {
        "imp_wh": (values["import_energy_kwh"], 1000), "v_dv": (values["voltage_v"], 10)}.items()}
    assert (decoded["imp_wh"], decoded["v_dv"]) == (exact["imp_wh"], exact["v_dv"])
    assert (decoded["exp_wh"], decoded["pf_milli"], decoded["i_ma"]) == (2, -1000, -4200)
    for override, reason in (({"export_energy_kwh": -1.0}, "out_of_range"),
                             ({"voltage_v": float("nan")}, "not_a_number"),
                             ({"frequency_hz": float("inf")}, "not_a_number")):
        with pytest.raises(MeterError) as info:
            decode_block(raw(**override), block.offsets)
        assert info.value.reason == reason
    with pytest.raises(MeterError) as info:
        decode_block(raw()[:4], block.offsets)
    assert info.value.reason == "short_block"