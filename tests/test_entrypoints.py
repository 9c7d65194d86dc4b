"""The README's commands behind `./gtx`: the demo and the bench runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_registers_and_reads_back_a_user_and_meter():
    proc = subprocess.run([sys.executable, "-m", "demo", "--meter-id", "MTR-TEST-9"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "id MTR-TEST-9" in proc.stdout
    assert "ok: user and meter registered and read back from chain state" in proc.stdout


def test_bench_prints_a_table_and_writes_flat_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "programs", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    for key in ("registry.initialize.cu", "registry.register_user.cu", "registry.settle_and_mint.cu_per_meter"):
        assert isinstance(metrics[key], (int, float)) and metrics[key] > 0
        assert key in proc.stdout


def test_bench_refuses_an_unknown_component():
    proc = subprocess.run([sys.executable, "-m", "bench", "nonexistent"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown component" in proc.stderr
