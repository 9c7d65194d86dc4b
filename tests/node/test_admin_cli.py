"""`python -m aggregator admin ...` as an operator runs it (subprocesses) beside a running
aggregator on the embedded defaults: every command answers JSON, refusals carry a reason
code and exit 1, and each one is recorded in admin_audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devservers import AggregatorProcess, free_tcp_port

ROOT = Path(__file__).resolve().parents[2]


def admin(env: dict[str, str], *args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "aggregator", "admin", *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True,
                          timeout=120)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_admin_commands_answer_and_are_audited():
    with tempfile.TemporaryDirectory(prefix="gtx-admin-") as tmp:
        env = {"GTX_DATA_DIR": str(Path(tmp) / "gtx"), "GTX_CHAIN_NODE_PORT": str(free_tcp_port()),
               "GTX_LOG_LEVEL": "WARNING"}
        aggregator = AggregatorProcess(env)
        try:
            aggregator.ready(180)
            code, status = admin(env, "status")
            assert code == 0 and status["outcome"] == "ok" and status["chain"]["slot"] > 0
            code, markets = admin(env, "market")
            assert code == 0 and len(markets["markets"]) == 1 and markets["markets"][0]["fee_bps"] == 25
            code, refused = admin(env, "suspend", "no-such-meter")
            assert code == 1 and refused["reason"] == "unknown_meter"
            code, refused = admin(env, "requeue", "--batch", "999999")
            assert code == 1 and refused["reason"] == "unknown_batch"
            code, requeued = admin(env, "requeue", "--all-failed")
            assert code == 0 and requeued["requeued"] == []
            code, revoked = admin(env, "revoke-cert", "11111111111111111111111111111112")
            assert code == 1 and revoked["reason"] == "chain_refused"
            code, audit = admin(env, "audit", "--limit", "10")
            assert code == 0
            assert [(a["command"], a["outcome"]) for a in reversed(audit["audit"])] == [
                ("status", "ok"), ("market", "ok"), ("suspend", "refused"), ("requeue", "refused"),
                ("requeue", "ok"), ("revoke-cert", "refused")]
            assert audit["audit"][-1]["actor"]
        finally:
            aggregator.stop()
