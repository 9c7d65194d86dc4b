"""The README's standalone recipe, followed as written (ports and data directory aside, so
parallel runs do not collide): a durable broker and `python -m aggregator serve` on the
embedded defaults, as subprocesses; a client that imports nothing of the project onboards a
user and a meter with the returned transactions, publishes signed readings with
`mosquitto_pub` and sees GRID on chain; the aggregator is killed with SIGKILL and
restarted: the balance is intact and nothing is minted twice, also when every reading is
published again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from devservers import AggregatorProcess, free_tcp_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("standalone_client.py")


def _client(command: str, api: str, rpc_url: str, mqtt_port: int, state: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", str(CLIENT), command, api, rpc_url, str(mqtt_port), str(state)],
                          cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_standalone_recipe_survives_kill_nine_without_minting_twice():
    with tempfile.TemporaryDirectory(prefix="gtx-standalone-") as tmp:
        _recipe(Path(tmp))


def _recipe(tmp: Path) -> None:
    data_dir, mqtt_port, node_port = tmp / "gtx", free_tcp_port(), free_tcp_port()
    env = {"GTX_DATA_DIR": str(data_dir), "GTX_MQTT_ENABLED": "true", "GTX_MQTT_PORT": str(mqtt_port),
           "GTX_CHAIN_NODE_PORT": str(node_port), "GTX_LOG_LEVEL": "WARNING", "GTX_INDEXER_POLL_S": "0.5"}
    broker = subprocess.Popen([sys.executable, "-m", "devservers.mosquitto", "--port", str(mqtt_port),
                               "--data-dir", str(data_dir / "mosquitto")], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api_port = free_tcp_port()
    aggregator = AggregatorProcess(env, port=api_port)
    rpc_url = f"http://127.0.0.1:{node_port}"
    try:
        aggregator.ready(180)
        seen = _client("onboard", aggregator.url, rpc_url, mqtt_port, tmp / "client.json")
        assert seen["minted_wh"] == 1_250 and seen["grid"] > 0 and seen["user_state"] == "active"

        aggregator.proc.send_signal(signal.SIGKILL)
        aggregator.proc.wait(30)
        aggregator.stop()
        aggregator = AggregatorProcess(env, port=api_port)
        aggregator.ready(180)
        after = _client("check", aggregator.url, rpc_url, mqtt_port, tmp / "client.json")
        assert after["grid_after_restart"] == seen["grid"]
        assert after["grid_after_replay"] == seen["grid"]
        assert after["minted_wh"] == 1_250
        assert after["accepted"] == 3
    finally:
        aggregator.stop()
        lock = data_dir / "chain" / "node.lock"
        if lock.exists() and lock.read_text().strip():
            # the node outlives a killed aggregator (the restarted one connected to it)
            try:
                os.kill(int(lock.read_text().strip()), signal.SIGTERM)
            except ProcessLookupError:
                pass
        broker.terminate()
        broker.wait(10)
