"""Fixtures for the firmware tests: one mpy-cross build per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.firmware import build_firmware


@pytest.fixture(scope="session")
def fw_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware compiled with mpy-cross, as deployed to a device."""
    return build_firmware(tmp_path_factory.mktemp("fw") / "build")
