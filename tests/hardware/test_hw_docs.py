"""Installer docs exist and agree with the register maps they describe."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from hardware.registers import load_model, model_names

DOCS = Path(__file__).resolve().parents[2] / "hardware" / "docs"


def test_all_docs_present():
    for name in ("wiring.md", "bom.md", "gateway-setup.md", "flashing.md", "registers.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        assert text.startswith("# ") and len(text) > 1000, name


def test_wiring_serial_settings_match_maps():
    text = (DOCS / "wiring.md").read_text(encoding="utf-8")
    m = re.search(r"\*\*(\d+) baud, (\d)([NEO])(\d), unit id (\d+)\*\*", text)
    assert m, "wiring.md must state the commissioning serial settings"
    baud, bits, parity, stop, unit = m.groups()
    for name in model_names():
        model = load_model(name)
        assert (model.baud, model.bytesize, model.parity, model.stopbits, model.unit_id) == (
            int(baud), int(bits), parity, int(stop), int(unit))


def test_bom_lists_every_mapped_meter_model():
    text = (DOCS / "bom.md").read_text(encoding="utf-8")
    for name in model_names():
        assert f"`{name}`" in text


FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def _firmware_config(text: str):
    """The firmware's own boot-time validator (firmware/config.py) run on CPython."""
    sys.path.insert(0, str(FIRMWARE))
    try:
        import config as fw_config

        return fw_config.parse(text)
    finally:
        sys.path.pop(0)
        for name in ("config", "section", "meter", "meter.regmap"):
            sys.modules.pop(name, None)


_MINIMAL = json.dumps({"meter_id": "m1", "wifi": {"ssid": "s", "password": ""},
                       "broker": {"host": "h"}, "meter": {"model": "sdm120", "slave_id": 1},
                       "interval_s": 60})


def test_wiring_pinout_matches_firmware_default_pins():
    meter = _firmware_config(_MINIMAL).meter
    text = (DOCS / "wiring.md").read_text(encoding="utf-8")
    uart = meter.uart_id
    assert f"| GPIO{meter.tx_pin} (UART{uart} TX) | 4 DI |" in text
    assert f"| GPIO{meter.rx_pin} (UART{uart} RX) | 1 RO |" in text
    assert f"| GPIO{meter.de_pin} | 2 /RE and 3 DE (tied) | direction |" in text
    assert f"GPIO{meter.tx_pin} (UART{uart} TX)" in text.split("## Pinout")[0]  # block diagram


def test_flashing_config_example_is_valid_and_names_the_default_pins():
    text = (DOCS / "flashing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    cfg = _firmware_config(blocks[0])
    m = cfg.meter
    assert (f"(`meter.uart_id` {m.uart_id}, `tx_pin` {m.tx_pin}, `rx_pin` {m.rx_pin}, "
            f"`de_pin` {m.de_pin}, `led_pin` {cfg.led_pin})") in " ".join(text.split())
    # The broker user of the example is one the gateway's broker is set up with.
    gateway = (DOCS / "gateway-setup.md").read_text(encoding="utf-8")
    assert f"mosquitto_passwd -c /etc/mosquitto/passwd {cfg.broker.username}" in gateway


def test_flashing_documents_every_deploy_command_and_no_other():
    from firmware_host.deploy import parser

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = set(sub.choices)
    text = (DOCS / "flashing.md").read_text(encoding="utf-8")
    used = set(re.findall(r"python -m firmware_host\.deploy (\w[\w-]*)", text))
    named = set(re.findall(r"`([\w-]+) (?:--port|--yes)", text))
    assert used and used <= commands
    assert commands - {"build"} <= used | named
    assert "`build`" in text
    # Every documented invocation parses with the real command line.
    for line in re.findall(r"python -m firmware_host\.deploy ([^\n`#]+)", text):
        argv = line.split()
        if argv[0] != "--help":
            parser().parse_args(argv)


def test_gateway_topics_match_the_firmware():
    sys.path.insert(0, str(FIRMWARE))
    try:
        from signing.envelope import reading_topic, status_topic
    finally:
        sys.path.pop(0)
        for name in ("signing", "signing.envelope"):
            sys.modules.pop(name, None)
    text = " ".join((DOCS / "gateway-setup.md").read_text(encoding="utf-8").split())
    assert f"`{reading_topic('<meter_id>')}`" in text
    assert f"`{status_topic('<meter_id>')}`" in text
