"""Operator-facing hygiene from outside: a standalone durable broker from the command line,
and one aggregator per data directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devservers import AggregatorProcess, free_tcp_port, mqtt_ping

ROOT = Path(__file__).resolve().parents[2]


def test_standalone_broker_keeps_a_queued_message_across_a_restart(tmp_path):
    port = free_tcp_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "devservers.mosquitto", "--port", str(port),
                                 "--data-dir", str(tmp_path / "mq")], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert "mqtt://127.0.0.1" in proc.stdout.readline()
        return proc

    def mosq(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=20)

    broker = start()
    try:
        assert mqtt_ping("127.0.0.1", port)
        # a persistent subscriber's session, then a QoS 1 message while it is away
        assert mosq("mosquitto_sub", "-p", str(port), "-i", "op-sub", "-c", "-q", "1", "-t", "t/x", "-W", "1").returncode in (0, 27)
        assert mosq("mosquitto_pub", "-p", str(port), "-q", "1", "-t", "t/x", "-m", "kept").returncode == 0
        broker.terminate()
        assert broker.wait(10) == 0
        broker.stdout.close()
        broker = start()
        got = mosq("mosquitto_sub", "-p", str(port), "-i", "op-sub", "-c", "-q", "1", "-t", "t/x", "-C", "1", "-W", "5")
        assert got.stdout.strip() == "kept"
    finally:
        broker.terminate()
        broker.wait(10)
        broker.stdout.close()


def test_a_second_aggregator_on_one_data_dir_stops_with_a_clear_error():
    # Not under pytest's shared /tmp/pytest-of-<user>: concurrent sessions reset its mode,
    # and the embedded PostgreSQL's unprivileged user must traverse to its data directory.
    with tempfile.TemporaryDirectory(prefix="gtx-op-") as tmp:
        _second_instance_refused(Path(tmp) / "gtx")


def _second_instance_refused(data_dir: Path) -> None:
    env = {"GTX_DATA_DIR": str(data_dir), "GTX_CHAIN_BACKEND": "none", "GTX_LOG_LEVEL": "WARNING"}
    first = AggregatorProcess(env)
    try:
        first.ready(120)
        second = AggregatorProcess(env)
        deadline = time.monotonic() + 60
        while second.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        code, err = second.stop_and_read_stderr()
        assert code != 0
        assert "another aggregator is running on the data directory" in err
    finally:
        first.stop()
