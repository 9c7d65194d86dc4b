"""Edge gateway benchmark: the relay from the site broker to the upstream broker.

Real pieces: two mosquitto brokers (site and upstream), the gateway as its own process
(``python -m edge_gateway``: one asyncio thread, plus a worker thread for outbox commits), its SQLite outbox with
``synchronous=FULL``. The fleet publishes signed readings (QoS 1) to the site broker
while the gateway is down (its persistent session queues them, as after an outage);
the run is timed from the gateway being up until it reports every reading
forwarded — received, committed to the outbox, acknowledged locally, published
upstream, PUBACKed and deleted from the outbox.

Metrics (JSON keys prefixed ``gateway.``):
  relay_readings_per_s     site broker -> outbox -> upstream PUBACK -> deleted
  relay_readings_per_cpu_s readings relayed per second of the gateway process's own CPU
                           time (user + system, from /proc): what one core sustains,
                           independent of what else the box runs (brokers, the fleet)
  outbox_bytes_per_reading SQLite file bytes (database + WAL, checkpointed) per queued
                           reading, measured on an outbox holding the same readings
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho

from bench.aggregator import _fleet, _interleave
from common.envelope import reading_topic
from devservers import free_tcp_port
from devservers.mosquitto import MosquittoBroker
from edge_gateway.storage.outbox import Outbox

UNITS = {
    "gateway.relay_readings_per_s": "readings/s",
    "gateway.outbox_bytes_per_reading": "bytes",
    "gateway.relay_readings_per_cpu_s": "readings/cpu-s",
}
GOALS = {"gateway.relay_readings_per_s": ">= 5,000 (one core)",
         "gateway.relay_readings_per_cpu_s": ">= 5,000 (one core)"}

METERS = int(os.environ.get("GTX_BENCH_GW_METERS", "100"))
PER_METER = int(os.environ.get("GTX_BENCH_GW_READINGS_PER_METER", "200"))
BATCH_SIZE = int(os.environ.get("GTX_BENCH_GW_BATCH_SIZE", "500"))
ROOT = Path(__file__).resolve().parent.parent


def _health(port: int) -> dict[str, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.02)


def _publish(broker: MosquittoBroker, items: list[tuple[str, bytes]]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-gw-fleet")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(reading_topic(meter_id), raw, qos=1) for meter_id, raw in items]
        for info in infos:
            info.wait_for_publish(timeout=120)
    finally:
        client.disconnect()
        client.loop_stop()


def _outbox_bytes_per_reading(workdir: Path, items: list[tuple[str, bytes]]) -> float:
    path = workdir / "size" / "outbox.db"
    with Outbox(path, len(items) + 1) as outbox:
        outbox.store([(reading_topic(m), raw) for m, raw in items])
        outbox.pragma("wal_checkpoint")
    size = sum(p.stat().st_size for p in path.parent.iterdir())
    return size / len(items)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _relay(workdir: Path, items: list[tuple[str, bytes]]) -> tuple[float, float]:
    # The site broker holds the fleet's backlog while the gateway is down; without a save
    # per queued message (quadratic in the backlog), so the gateway's relay is measured.
    local = MosquittoBroker(workdir / "local", autosave=False)
    upstream = MosquittoBroker(workdir / "upstream")
    local.start()
    upstream.start()
    http_port = free_tcp_port()
    config = workdir / "gateway.toml"
    config.write_text(
        f'gateway_id = "bench-gw"\noutbox_path = "{workdir / "outbox.db"}"\nhttp_port = {http_port}\n'
        f'batch_size = {BATCH_SIZE}\nlog_level = "WARNING"\n'
        f'[local]\nhost = "{local.host}"\nport = {local.port}\n'
        f'[upstream]\nhost = "{upstream.host}"\nport = {upstream.port}\n'
    )
    log = (workdir / "gateway.log").open("wb")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "edge_gateway", "--config", str(config)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)

    def ready(proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {(workdir / 'gateway.log').read_text()}")
        try:
            return _health(http_port)["status"] == "ok"
        except OSError:
            return False

    proc = start()
    try:
        # A first run subscribes (persistent session); while the gateway is down the fleet
        # publishes and the site broker queues every reading for it.
        _wait(lambda: ready(proc), 30, "gateway ready")
        proc.terminate()
        proc.wait(10)
        _publish(local, items)
        proc = start()
        _wait(lambda: ready(proc), 30, "gateway ready")
        cpu_before = _cpu_s(proc.pid)
        started = time.perf_counter()
        _wait(lambda: _health(http_port)["forwarded_total"] == len(items), 300, "every reading forwarded")
        elapsed = time.perf_counter() - started
        cpu = _cpu_s(proc.pid) - cpu_before
        health = _health(http_port)
        if health["outbox_depth"] != 0 or health["accepted_total"] != len(items):
            raise RuntimeError(f"gateway did not relay every reading exactly: {health}")
        return len(items) / elapsed, len(items) / cpu
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        local.stop()
        upstream.stop()


def run() -> dict[str, float]:
    _, per_meter = _fleet("gw", METERS, PER_METER)
    items = _interleave(per_meter)
    with tempfile.TemporaryDirectory(prefix="gtx-bench-gw-") as tmp:
        rate, per_cpu = _relay(Path(tmp), items)
        size = _outbox_bytes_per_reading(Path(tmp), items)
    return {
        "gateway.relay_readings_per_s": round(rate, 1),
        "gateway.relay_readings_per_cpu_s": round(per_cpu, 1),
        "gateway.outbox_bytes_per_reading": round(size, 1),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:40s} {value:>12,.1f} {UNITS[key]}")
