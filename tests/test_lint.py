"""Lint and types gate the test command: ruff over the Python tree, mypy over the services.

What each checks is configured in ``pyproject.toml`` (``[tool.ruff]``, ``[tool.mypy]``);
the firmware has its own gate against the MicroPython stubs (tests/firmware)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: Server code that mypy checks (the pydantic plugin reads the settings classes).
TYPED = ["aggregator", "edge_gateway", "common", "devservers", "gtx_trader"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    proc = _run([str(BIN / "ruff"), "check", "--no-cache", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing() -> None:
    proc = _run([str(BIN / "mypy"), *TYPED])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout
