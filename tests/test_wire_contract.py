"""The wire contract (common/wire.py): one definition, generated into the firmware, used
the same way by every component; the package boundaries it implies hold."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from aggregator.chain.energy_token import DECIMALS
from aggregator.config import MqttSettings, Settings
from aggregator.meters.schemas import RegisterMeter
from common import wire
from common.envelope import EnvelopeError, meter_from_topic, reading_topic
from firmware_host.deploy import DeployError, validate_config

ROOT = Path(__file__).resolve().parents[1]

IDS = ["mtr-0001", "A", "a" * 32, "under_score", "", "a" * 33, "with space", "slash/id", "plus+", "ümlaut", "#"]


def test_generated_firmware_files_match_common() -> None:
    out = subprocess.run([sys.executable, "-m", "common.wire", "check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("meter_id", IDS)
def test_every_component_applies_the_same_meter_id_rule(meter_id: str, tmp_path: Path) -> None:
    expected = wire.is_meter_id(meter_id)
    assert expected == (0 < len(meter_id) <= wire.METER_ID_MAX_LEN and all(c in wire.METER_ID_CHARS for c in meter_id))

    try:  # the envelope's topics
        assert meter_from_topic(reading_topic(meter_id)) == meter_id
        topic_ok = True
    except EnvelopeError:
        topic_ok = False
    try:  # the aggregator's HTTP shape
        RegisterMeter(meter_id=meter_id, owner_wallet="1" * 32, device_public_key="0" * 64, nonce="n", signature="s")
        http_ok = True
    except ValidationError:
        http_ok = False
    config = tmp_path / "config.json"  # the firmware's boot-time config validator
    config.write_text(json.dumps({"meter_id": meter_id, "wifi": {"ssid": "lan", "password": "pw"},
                                  "broker": {"host": "10.0.0.1"}, "meter": {"model": "sdm120", "slave_id": 1},
                                  "interval_s": 60}))
    try:
        validate_config(config)
        firmware_ok = True
    except DeployError:
        firmware_ok = False
    assert (topic_ok, http_ok, firmware_ok) == (expected,) * 3


def test_topics_limits_and_units_come_from_the_contract() -> None:
    assert MqttSettings().topic == wire.READINGS_TOPIC_FILTER
    assert Settings(database_url="postgresql://unused/").ingest.max_envelope_bytes == wire.MAX_WIRE_BYTES
    assert 10**DECIMALS == wire.WH_PER_KWH  # one GRID base unit is one watt-hour


def _imports(package: str) -> list[tuple[str, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found += [(str(path.relative_to(ROOT)), n) for n in names]
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("edge_gateway", "firmware"), ("aggregator", "firmware"), ("common", "firmware"),
    ("bench", "tests"), ("devservers", "tests"), ("aggregator", "tests"), ("aggregator", "devservers"),
    ("edge_gateway", "devservers"), ("common", "aggregator"), ("edge_gateway", "tests"), ("demo", "tests"),
])
def test_package_boundaries(package: str, forbidden: str) -> None:
    crossing = [(f, n) for f, n in _imports(package) if n == forbidden or n.startswith(forbidden + ".")]
    assert crossing == []


def test_the_chain_client_library_imports_nothing_of_the_service() -> None:
    """aggregator/chain is used by tools, demo, bench and tests: it reaches only itself,
    common/ and third-party code."""
    crossing = [(f, n) for f, n in _imports("aggregator/chain")
                if n.startswith("aggregator.") and not n.startswith("aggregator.chain")]
    assert crossing == []
