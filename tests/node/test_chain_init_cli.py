"""`python -m aggregator chain init` as an operator runs it: a subprocess against the
embedded node over a fresh data directory, run twice (idempotent), keys 0600."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from devservers import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]


def run_init(data_dir: Path, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GTX_DATA_DIR": str(data_dir), "GTX_CHAIN_NODE_PORT": str(port)}
    return subprocess.run([sys.executable, "-m", "aggregator", "chain", "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_chain_init_bootstraps_once_and_then_only_verifies(tmp_path):
    data_dir, port = tmp_path / "gtx", free_tcp_port()
    first = run_init(data_dir, port)
    assert first.returncode == 0, first.stderr
    for line in ("initialised registry", "initialised energy token", "initialised certificates",
                 "initialised market", "funded oracle", "funded matcher", "funded issuer"):
        assert line in first.stderr
    keys = data_dir / "keys"
    for name in ("deployer", "oracle", "matcher", "issuer"):
        path = keys / f"{name}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(json.loads(path.read_text())) == 64
    manifest = json.loads((keys / "chain.json").read_text())
    assert len(manifest["markets"]) == 1
    deployer = manifest["keys"]["deployer"]
    assert f"upgrade authority {deployer}" in first.stderr

    second = run_init(data_dir, port)
    assert second.returncode == 0, second.stderr
    assert "initialised" not in second.stderr.replace("already initialised", "")
    assert "registry already initialised" in second.stderr
    assert json.loads((keys / "chain.json").read_text())["markets"] == manifest["markets"]
