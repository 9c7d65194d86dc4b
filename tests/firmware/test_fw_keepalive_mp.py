"""Keepalive on an idle link: the uplink pings before the broker's 1.5 x
keepalive deadline, and a ping is what finds a broker that went away."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.micropython import FIRMWARE_HEAP, MICROPYTHON
from devservers.mosquitto import MosquittoBroker

MP_DIR = Path(__file__).parent / "mp"


def test_idle_link_kept_alive_and_dead_broker_detected(
    fw_build: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    script = f"import sys\nsys.path.insert(0, {str(MP_DIR)!r})\nimport uplink_keepalive\n"
    proc = subprocess.Popen(
        [str(MICROPYTHON), "-X", f"heapsize={FIRMWARE_HEAP}", "-c", script], cwd=fw_build,
        env={"GTX_PORT": str(mosquitto.port), "GTX_RING": str(tmp_path / "ring.bin")},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        lines = []
        while not lines or lines[-1] != "ready":
            line = proc.stdout.readline()
            assert line, "\n".join(lines)
            lines.append(line.strip())
        mosquitto.stop()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        rest, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out = "\n".join(lines) + "\n" + rest
    assert proc.returncode == 0, out
    assert "idle-connected True" in out
    assert out.count("uplink: connected") == 1  # never dropped while idle
    assert "uplink: ping failed" in out
    assert "after-stop-connected False" in out
