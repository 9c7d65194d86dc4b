"""Register maps: validation, generated firmware constants and docs stay in sync."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hardware.errors import RegisterMapError
from hardware.registers import (
    FIRMWARE_FIELDS,
    MAX_READ_REGISTERS,
    firmware_regmap,
    generated_files,
    load_model,
    model_names,
    parse_model,
)
from hardware.registers.model import MAP_DIR

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = REPO / ".venv" / "bin" / "micropython"


def _raw(name: str) -> dict:
    return tomllib.loads((MAP_DIR / f"{name}.toml").read_text())


def test_models_present_and_valid():
    assert {"sdm120", "sdm630"} <= set(model_names())
    for name in model_names():
        model = load_model(name)
        block = model.firmware_block
        assert sorted(block.offsets) == sorted(FIRMWARE_FIELDS)
        assert block.count <= MAX_READ_REGISTERS
        for field, offset in block.offsets.items():
            reg = model.input(model.firmware_fields[field])
            assert reg.type == "float32" and block.start + offset == reg.address
            assert offset + 2 <= block.count


def test_sdm_addresses_match_vendor_numbering():
    sdm120 = load_model("sdm120")
    assert sdm120.input("voltage_v").address == 0x0000
    assert sdm120.input("active_power_w").address == 0x000C
    assert sdm120.input("import_energy_kwh").address == 0x0048
    assert sdm120.input("export_energy_kwh").address == 0x004A
    sdm630 = load_model("sdm630")
    assert sdm630.input("total_active_power_w").address == 0x0034
    assert sdm630.input("frequency_hz").address == 0x0046
    assert sdm630.firmware_block.start == 0 and sdm630.firmware_block.count == 76


def test_committed_generated_files_match_generators():
    for path, text in generated_files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: regenerate"
    result = subprocess.run([sys.executable, "-m", "hardware.registers", "check"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_firmware_regmap_loads_in_micropython_with_small_heap(tmp_path):
    (tmp_path / "regmap.py").write_text(firmware_regmap())
    script = (
        "import regmap\n"
        "m = regmap.MODELS['sdm630']\n"
        "print(m['block_start'], m['block_count'], m['fields']['export_energy_kwh'], m['unit_id'], m['baud'])\n"
    )
    out = subprocess.run([str(MICROPYTHON), "-X", "heapsize=16K", "-c", script],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == ["0", "76", "74", "1", "9600"]
    code_lines = [ln for ln in firmware_regmap().splitlines() if not ln.startswith("#")]
    assert not any(ln.lstrip().startswith(("import ", "from ")) for ln in code_lines)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["input"].append(dict(d["input"][0], name="dup_overlap", address=1)), "overlap"),
        (lambda d: d["input"].__setitem__(0, dict(d["input"][0], quantity="volts")), "unknown_quantity"),
        (lambda d: d["input"].__setitem__(0, dict(d["input"][0], address=0x0200)), "outside_range"),
        (lambda d: d["firmware_fields"].__setitem__("voltage_v", "total_energy_kwh"), "block_too_large"),
        (lambda d: d["firmware_fields"].pop("frequency_hz"), "firmware_fields"),
        (lambda d: d["meter"].__setitem__("baud", 12345), "bad_baud"),
        (lambda d: d["meter"].__setitem__("unit_id", 0), "bad_unit_id"),
        (lambda d: d["input"][0].__setitem__("typo", 1), "unknown_key"),
    ],
)
def test_invalid_maps_are_rejected_with_reason(mutate, reason):
    data = copy.deepcopy(_raw("sdm120"))
    mutate(data)
    with pytest.raises(RegisterMapError) as err:
        parse_model(data, "mutated.toml")
    assert err.value.reason == reason


def test_unknown_model_has_reason_code():
    with pytest.raises(RegisterMapError) as err:
        load_model("sdm999")
    assert err.value.reason == "unknown_model"
