"""Installer docs exist and agree with the register maps they describe."""

from __future__ import annotations

import re
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
