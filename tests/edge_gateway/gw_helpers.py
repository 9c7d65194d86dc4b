"""Helpers for the edge gateway tests: the real gateway process, meters, MQTT clients."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho

from common.envelope import parse_envelope, reading_topic
from tests.aggregator.agg_helpers import SimMeter, seed_for
from devservers import MosquittoBroker, free_tcp_port

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["GatewayProc", "meters", "publish", "seqs_by_meter", "wait_until", "write_config"]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``predicate`` (a health check, not a fixed sleep) until true or fail."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.02)


def meters(*names: str) -> list[SimMeter]:
    return [SimMeter(name, seed_for("gw-meter:" + name)) for name in names]


def publish(broker: MosquittoBroker, items: Iterable[tuple[str, bytes]], client_id: str = "gtx-test-meters") -> None:
    """Publish QoS 1 from a clean-session client (as meters do) and wait for every PUBACK."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(timeout=20)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def readings(fleet: list[SimMeter], rounds: int) -> list[tuple[str, bytes]]:
    """``rounds`` consecutive signed readings of every meter, interleaved."""
    return [(reading_topic(m.meter_id), m.next()) for _ in range(rounds) for m in fleet]


def seqs_by_meter(payloads: Iterable[bytes]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for raw in payloads:
        env = parse_envelope(raw)
        out.setdefault(env.meter, []).append(env.seq)
    return out


def write_config(path: Path, *, local: MosquittoBroker, upstream: MosquittoBroker, outbox: Path,
                 http_port: int, ca_cert: Path | None = None, extra: str = "") -> Path:
    tls = f'tls_ca = "{ca_cert}"\n' if ca_cert is not None else ""
    path.write_text(
        f'gateway_id = "gw-test"\noutbox_path = "{outbox}"\nhttp_port = {http_port}\n{extra}\n'
        f'[local]\nhost = "{local.host}"\nport = {local.port}\n\n'
        f'[upstream]\nhost = "{upstream.host}"\nport = {upstream.port}\n'
        f"backoff_min_s = 0.05\nbackoff_max_s = 0.3\n{tls}"
    )
    return path


@dataclass
class GatewayProc:
    """``python -m edge_gateway --config <file>`` as a child process."""

    config: Path
    http_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout_s: float = 20.0) -> GatewayProc:
        """Start and wait until /healthz says both brokers are connected."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_gateway", "--config", str(self.config)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, **self.env},
        )
        log.close()
        wait_until(self._ready, timeout_s, "gateway /healthz ready")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.logs()}")
        try:
            return self.health()["status"] == "ok"
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def health(self) -> dict[str, object]:
        status, body = self.get("/healthz")
        data = json.loads(body)
        assert (status == 200) == (data["status"] == "ok")
        return data

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200
        return body.decode()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout_s: float = 15.0) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def new_gateway(workdir: Path, local: MosquittoBroker, upstream: MosquittoBroker, *,
                ca_cert: Path | None = None, extra: str = "") -> GatewayProc:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    config = write_config(workdir / "gateway.toml", local=local, upstream=upstream,
                          outbox=workdir / "outbox.sqlite3", http_port=port, ca_cert=ca_cert, extra=extra)
    return GatewayProc(config, port, workdir / "gateway.log")
