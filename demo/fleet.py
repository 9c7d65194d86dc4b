"""The community's meters, their drivers and the two edge gateways.

A seeded roster of participants: prosumers with rooftop PV (some with an EV charger) and
plain consumers, each behind an emulated SDM120 (1-phase) or SDM630 (3-phase) on its own
Modbus RTU line (a pty). Every meter is read over Modbus RTU by one of three drivers:

- ``firmware``: the real meter firmware on the MicroPython unix port, one interpreter per
  meter, signing with the device key it generates on first boot;
- ``device-model``: a lighter model of the same device in this process: one block read
  per interval over the same RTU line, the firmware's conversion rule
  (``common.meter_values``), a v1 envelope with the same keys signed with its own device
  key, published with QoS 1 to the gateway's local broker;
- ``gateway``: polled by gateway B itself (meters wired to the Pi), signed with the
  gateway's key.

Two gateways (``python -m edge_gateway``), each with its own local mosquitto, relay
through their SQLite outboxes to the aggregator's broker. All meters share one simulated
day: their clocks go live together and stop at midnight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from solders.keypair import Keypair

from common.envelope import public_key_from_seed, reading_topic, sign_envelope
from devservers.mosquitto import MosquittoBroker
from devservers.ports import free_tcp_port, wait_until
from edge_gateway.config import RtuMeter
from edge_gateway.errors import MeterError
from edge_gateway.meters.convert import decode_block
from edge_gateway.meters.modbus import ModbusLine
from hardware.emulators import EmulatedMeter
from hardware.emulators.clock import AcceleratedClock
from hardware.profiles.site import prosumer_site
from hardware.registers.model import load_model

__all__ = ["DAY_S", "DEVICE_MODEL_FW", "Gateway", "Participant", "roster"]

DAY_S = 86_400
DEVICE_MODEL_FW = "dm-1.0.0"  # the envelope's fw of the device model (the firmware sends 1.0.0)


@dataclass
class Participant:
    """One household: its wallet, its meter and how the meter is read."""

    index: int
    name: str
    role: str  # "prosumer" | "consumer"
    model: str  # "sdm120" | "sdm630"
    pv_w: float
    ev: bool
    driver: str  # "firmware" | "device-model" | "gateway"
    gateway: int  # 0 = gateway A, 1 = gateway B
    green: bool  # pays a premium for certified energy
    floor_micro: int  # a prosumer's lowest ask / a consumer's highest bid (base units per kWh)
    seed: int
    wallet: Keypair = field(default_factory=Keypair)
    device_seed: bytes = field(default_factory=lambda: os.urandom(32))
    device_key: bytes = b""
    meter: EmulatedMeter | None = None

    @property
    def meter_id(self) -> str:
        return f"MTR-{self.index:04d}"

    @property
    def kind(self) -> str:
        if self.role == "consumer":
            return "consumer" + (" + EV" if self.ev else "")
        return f"PV {self.pv_w / 1000:g} kWp" + (" + EV" if self.ev else "")


def roster(n: int, seed: int, firmware: int, direct: int, green_share: float = 0.3) -> list[Participant]:
    """``n`` households, seeded: about 60 % prosumers; ``firmware`` meters run the real
    firmware, ``direct`` are wired to gateway B; SDM630 for every third site."""
    rng = random.Random(seed)
    people = []
    for i in range(n):
        model = "sdm630" if i % 3 == 2 else "sdm120"
        prosumer = i % 5 in (0, 1, 3)
        pv = 0.0 if not prosumer else rng.choice((3_000.0, 4_000.0, 5_000.0, 6_000.0)) * (2 if model == "sdm630" else 1)
        driver = "firmware" if i < firmware else "gateway" if i >= n - direct else "device-model"
        gateway = 1 if driver == "gateway" else i % 2
        floor = rng.choice((60, 70, 80)) * 1_000 if prosumer else rng.choice((110, 120, 130)) * 1_000
        people.append(Participant(
            index=i + 1, name=f"{'prosumer' if prosumer else 'consumer'}-{i + 1:02d}",
            role="prosumer" if prosumer else "consumer", model=model, pv_w=pv, ev=rng.random() < 0.35,
            driver=driver, gateway=gateway, green=not prosumer and rng.random() < green_share * 2,
            floor_micro=floor, seed=seed * 1000 + i))
    return people


async def start_meters(stack: contextlib.AsyncExitStack, people: list[Participant], acceleration: float,
                       link_dir: Path) -> None:
    """One emulated meter per household on its own pty; clocks go live together."""
    link_dir.mkdir(exist_ok=True)
    for p in people:
        model = load_model(p.model)
        site = prosumer_site(seed=p.seed, phases=model.phases, cloud_cover=0.25, ev=p.ev, peak_pv_w=p.pv_w)
        meter = EmulatedMeter(site=site, model=model, seed=p.seed, link_dir=str(link_dir), name=p.meter_id,
                              clock=AcceleratedClock(acceleration, start_s=0.0, stop_s=float(DAY_S)))
        stack.push_async_callback(meter.stop)
        await meter.start()
        p.meter = meter


def go_live(people: list[Participant]) -> float:
    """Every meter's day starts now (midnight); the wall time it started."""
    t0 = time.time()
    for p in people:
        assert p.meter is not None
        p.meter.go_live()
    return t0


# --- the device model --------------------------------------------------------------------------
class DeviceModel:
    """The lighter driver: the firmware's read-convert-sign-publish loop, in this process."""

    def __init__(self, people: list[Participant], broker: MosquittoBroker, interval_s: int, readings: int) -> None:
        self.people = people
        self.interval_s = interval_s
        self.readings = readings
        self.sent = 0
        self.missed = 0  # block reads that failed (no answer in time); the next interval reads again
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gtx-device-model-{broker.port}",
                                  protocol=mqtt.MQTTv5)
        self.broker = broker

    def connect(self) -> None:
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for p in self.people:
                group.create_task(self._meter(p))

    async def _meter(self, p: Participant) -> None:
        assert p.meter is not None
        model = load_model(p.model)
        line = ModbusLine(RtuMeter(meter_id=p.meter_id, model=p.model, transport="rtu", device=p.meter.port,
                                   slave_id=p.meter.unit_id, interval_s=self.interval_s, timeout_s=0.5))
        block = model.firmware_block
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        end_at = next_at + self.readings * self.interval_s + 5  # as long as the firmware reads, and a little
        seq = 0
        try:
            while seq < self.readings and loop.time() < end_at:
                try:
                    raw = await line.read_block(p.meter.unit_id, block.start, block.count)
                except MeterError:
                    raw = None
                    self.missed += 1
                if raw is not None:
                    seq += 1
                    values = decode_block(raw, block.offsets)
                    message = sign_envelope(p.device_seed, {
                        "kind": "reading", "meter": p.meter_id, "seq": seq, "ts": int(time.time()), "clk": 1,
                        "int_s": self.interval_s, **values, "fw": DEVICE_MODEL_FW})
                    info = self.client.publish(reading_topic(p.meter_id), message, qos=1)
                    await asyncio.to_thread(info.wait_for_publish, 10)
                    self.sent += 1
                next_at += self.interval_s
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        finally:
            line.close()


# --- the gateways ------------------------------------------------------------------------------
@dataclass
class Gateway:
    """``python -m edge_gateway`` with its own local mosquitto, relaying to ``upstream``."""

    name: str
    workdir: Path
    local: MosquittoBroker
    upstream_host: str
    upstream_port: int
    direct: list[Participant]
    interval_s: int
    seed: bytes = field(default_factory=lambda: os.urandom(32))
    http_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def public_key(self) -> bytes:
        return public_key_from_seed(self.seed)

    def config(self) -> Path:
        key = self.workdir / "gateway.key"
        key.write_bytes(self.seed)
        key.chmod(0o600)
        self.http_port = free_tcp_port()
        meters = "".join(
            f'\n[[direct_meters]]\nmeter_id = "{p.meter_id}"\nmodel = "{p.model}"\ntransport = "rtu"\n'
            f'slave_id = {p.meter.unit_id}\ndevice = "{p.meter.port}"\ninterval_s = {self.interval_s}\n'
            "timeout_s = 0.5\n" for p in self.direct if p.meter is not None)
        path = self.workdir / "gateway.toml"
        path.write_text(
            f'gateway_id = "{self.name}"\noutbox_path = "{self.workdir / "outbox.sqlite3"}"\n'
            f'http_port = {self.http_port}\nlog_level = "WARNING"\nbatch_size = 200\n'
            f'signing_key_file = "{key}"\n\n'
            f'[local]\nhost = "{self.local.host}"\nport = {self.local.port}\n\n'
            f'[upstream]\nhost = "{self.upstream_host}"\nport = {self.upstream_port}\n'
            f"backoff_min_s = 0.05\nbackoff_max_s = 0.5\n{meters}")
        return path

    def start(self) -> None:
        config = self.workdir / "gateway.toml"
        if not config.exists():
            config = self.config()
        log = (self.workdir / "gateway.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "edge_gateway", "--config", str(config)],
                                     stdout=log, stderr=log, cwd=Path(__file__).resolve().parent.parent)
        log.close()
        wait_until(self._ready, f"gateway {self.name}", timeout_s=30)

    def _ready(self) -> bool:
        import urllib.request
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"gateway {self.name} exited with {self.proc.returncode}: "
                               f"{(self.workdir / 'gateway.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def outbox_depth(self) -> int:
        import sqlite3
        path = self.workdir / "outbox.sqlite3"
        if not path.exists():
            return 0
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
            try:
                return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def by_driver(people: list[Participant], driver: str) -> Iterator[Participant]:
    return (p for p in people if p.driver == driver)
