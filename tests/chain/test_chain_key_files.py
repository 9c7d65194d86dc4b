"""Keypair files the aggregator loads (oracle, matcher, issuer) must be private."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair

from aggregator.chain.connect import load_keypair
from aggregator.chain.errors import ChainSetupError

ROOT = Path(__file__).resolve().parents[2]


def _key(path: Path, mode: int) -> Path:
    path.write_text(json.dumps(list(bytes(Keypair()))))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_others_may_read_is_refused(tmp_path: Path, mode: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTX_ALLOW_SHARED_KEY_FILES", raising=False)
    key = _key(tmp_path / "oracle.json", mode)
    with pytest.raises(ChainSetupError, match=f"mode {mode:04o}.*chmod 600"):
        load_keypair(key)


def test_a_private_key_file_loads_and_the_override_lifts_the_check(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTX_ALLOW_SHARED_KEY_FILES", raising=False)
    load_keypair(_key(tmp_path / "private.json", 0o600))
    shared = _key(tmp_path / "shared.json", 0o644)
    monkeypatch.setenv("GTX_ALLOW_SHARED_KEY_FILES", "1")
    load_keypair(shared)


def test_serve_with_a_shared_oracle_key_stops_with_a_clear_error(tmp_path: Path) -> None:
    key = _key(tmp_path / "oracle.json", 0o644)
    env = {k: v for k, v in os.environ.items() if k != "GTX_ALLOW_SHARED_KEY_FILES"}
    env.update({"GTX_CHAIN_BACKEND": "rpc", "GTX_CHAIN_RPC_URL": "http://127.0.0.1:9",
                "GTX_CHAIN_ORACLE_KEYPAIR": str(key), "GTX_EMBEDDED_PG_DIR": str(tmp_path / "pg")})
    out = subprocess.run([sys.executable, "-m", "aggregator", "serve", "--port", "9"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "mode 0644" in out.stderr and "chmod 600" in out.stderr
