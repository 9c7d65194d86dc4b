"""A hostile-input run against the whole ingest and API surface, with real servers.

Over 10,000 generated inputs (a seeded generator, so a failure replays) go to: every
HTTP route of the OpenAPI schema (random paths, queries, bodies and forged tokens), the
aggregator's MQTT broker, the edge gateway's local broker, and the transaction relay.
The run passes when nothing that should be refused is accepted (no reading stored, no
private data served without a valid token, no transaction relayed, no write done),
nothing answers 5xx, and afterwards a valid reading still flows through every consumer
(the gateway relays it, the aggregator's MQTT consumer and HTTP ingest store it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nacl.signing
import paho.mqtt.client as paho
import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from aggregator.config import MqttSettings
from aggregator.services import services_of
from common.envelope import reading_topic
from demo.services import serve_aggregator
from devservers.mosquitto import MosquittoBroker
from tests.aggregator.agg_helpers import ADMIN, SimMeter, make_settings, seed_for
from tests.aggregator.test_agg_access_matrix import MATRIX
from tests.edge_gateway.gw_helpers import new_gateway, wait_until
from tools import wallet

SEED = 20261206
N_HTTP, N_MQTT_AGG, N_MQTT_GW, N_RELAY = 4_000, 2_500, 2_500, 1_200
PUBLIC_READS = {path.split("?")[0] for (method, path), row in MATRIX.items()
                if method == "GET" and row.split()[4] != "401"}
WEIRD_INTS = [0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
WEIRD_TEXT = ["", " ", "%", "../../etc/passwd", "' OR 1=1 --", "\u202e", "😀" * 30, "a" * 5000, "\\u0000",
              "null", "[]", "{}", "NaN", "1e309", "<script>", "mtr-hostile"]


class Hostile:
    """Generates hostile inputs from one seeded random source."""

    def __init__(self, meter: SimMeter) -> None:
        self.rng = random.Random(SEED)
        self.meter = meter
        self.forger = SimMeter(meter.meter_id, seed_for("a stolen name, not the key"))

    def scalar(self) -> Any:
        return self.rng.choice([self.rng.choice(WEIRD_INTS), self.rng.choice(WEIRD_TEXT), None, True, 1.5e308,
                                self.rng.random()])

    def json_value(self, depth: int = 0) -> Any:
        if depth > 3 or self.rng.random() < 0.5:
            return self.scalar()
        if self.rng.random() < 0.5:
            return [self.json_value(depth + 1) for _ in range(self.rng.randrange(4))]
        return {str(self.scalar())[:20]: self.json_value(depth + 1) for _ in range(self.rng.randrange(4))}

    def envelope(self) -> bytes:
        """Something that must never be stored as a reading of the meter."""
        kind = self.rng.randrange(7)
        if kind == 0:  # signed with another key
            return self.forger.next(exp_delta=self.rng.choice([1, 10**6, 10**12]))
        if kind == 1:  # a valid envelope with flipped bytes
            raw = bytearray(self.meter.sign(self.meter.reading(seq=self.meter.seq + 1, ts=self.meter.ts + 300)))
            for _ in range(self.rng.randrange(1, 4)):
                i = self.rng.randrange(len(raw))
                raw[i] ^= 1 << self.rng.randrange(8)
            return bytes(raw)
        if kind == 2:  # random bytes
            return self.rng.randbytes(self.rng.randrange(0, 600))
        if kind == 3:  # random JSON
            return json.dumps(self.json_value()).encode()
        if kind == 4:  # the envelope shape with hostile field values
            return json.dumps({"v": self.scalar(), "meter": self.scalar(), "payload": self.scalar(),
                               "sig": self.scalar()}).encode()
        if kind == 5:  # forged with extreme values in the signed payload
            r = self.forger.reading(seq=self.rng.choice(WEIRD_INTS), ts=self.rng.choice(WEIRD_INTS),
                                    int_s=self.rng.choice(WEIRD_INTS), exp_wh=self.rng.choice(WEIRD_INTS))
            payload = json.dumps(r, separators=(",", ":")).encode()
            sig = nacl.signing.SigningKey(self.forger.seed).sign(payload).signature
            return json.dumps({"v": 1, "meter": self.meter.meter_id, "payload": base64.b64encode(payload).decode(),
                               "sig": base64.b64encode(sig).decode()}).encode()
        return b"x" * self.rng.choice([1025, 4096, 70_000])  # oversized

    def topic(self) -> str:
        return self.rng.choice([reading_topic(self.meter.meter_id), reading_topic("mtr-other"),
                                "gtx/v1/meters/{}/readings".format(
                                    str(self.scalar())[:30].replace("+", "p").replace("#", "h") or "x"),
                                "gtx/v1/meters/" + self.meter.meter_id + "/gap"])

    def token(self) -> dict[str, str]:
        return self.rng.choice([{}, {}, {"Authorization": "Bearer " + self.rng.choice(["x", "a.b", ".", "..", "e30.e30", "A" * 3000,
                                                                                "eyJ2IjoxfQ.AAAA", "null.null"])},
                                {"Authorization": "Basic YWRtaW46YWRtaW4="},
                                {"Authorization": "Bearer " + base64.urlsafe_b64encode(json.dumps(
                                    {"v": 1, "sub": str(ADMIN.pubkey()), "role": "admin", "exp": 2**40}
                                ).encode()).decode().rstrip("=") + ".forged"}])

    def url(self, paths: list[tuple[str, str]]) -> tuple[str, str]:
        method, path = self.rng.choice(paths)
        for name in ("{wallet}", "{meter_id}", "{certificate}"):
            if name in path:
                value = self.rng.choice([self.meter.meter_id, str(ADMIN.pubkey()), str(self.scalar())[:60] or "x"])
                path = path.replace(name, httpx.URL("/" + value.replace("/", "%2F")).raw_path.decode()[1:])
        query = "&".join(f"{k}={self.scalar()}" for k in self.rng.sample(
            ["limit", "before_seq", "before_id", "owner", "meter_id", "market", "status", "name"], self.rng.randrange(3)))
        return method, path + ("?" + query if query else "")

    def transaction(self, blockhash: Hash) -> str:
        kind = self.rng.randrange(5)
        kp = Keypair()
        ix = transfer(TransferParams(from_pubkey=kp.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=1))
        tx = Transaction([kp], Message([ix], kp.pubkey()), blockhash)
        raw = bytes(tx)
        if kind == 0:  # a well-signed transaction of a program the relay does not pass
            return base64.b64encode(raw).decode()
        if kind == 1:  # flipped bytes
            b = bytearray(raw)
            b[self.rng.randrange(len(b))] ^= 0xFF
            return base64.b64encode(bytes(b)).decode()
        if kind == 2:  # truncated
            return base64.b64encode(raw[: self.rng.randrange(len(raw))]).decode()
        if kind == 3:  # random bytes
            return base64.b64encode(self.rng.randbytes(self.rng.randrange(1, 1400))).decode()
        return str(self.scalar())[:4000]


def _publish_many(host: str, port: int, items: list[tuple[str, bytes]], client_id: str) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(200)
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.timeout(240)
async def test_ten_thousand_hostile_inputs_are_refused_without_a_5xx_or_a_stall(
        pg_dsn: str, tmp_path: Path, mosquitto_factory: Callable[..., MosquittoBroker],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTX_HTTP_WRITE_RATE_PER_S", "0")  # measure the handlers, not the rate limiter
    started = time.monotonic()
    upstream, local = mosquitto_factory(), mosquitto_factory()
    settings = make_settings(pg_dsn, chain="litesvm", rate_limit_interval_s=0)
    settings.mqtt = MqttSettings(enabled=True, host=upstream.host, port=upstream.port, client_id="agg-hostile")
    async with contextlib.AsyncExitStack() as stack:
        agg = await serve_aggregator(stack, settings)
        http = agg.client
        owner = Keypair.from_seed(seed_for("hostile-owner"))
        assert (await wallet.register_user(http, owner, "prosumer")).status_code == 201
        meter = SimMeter("mtr-hostile", seed_for("hostile-meter"))
        assert (await wallet.register_meter(http, owner, meter.meter_id,
                                            bytes.fromhex(meter.public_key_hex))).status_code == 201
        assert (await http.post("/api/meters/submit-reading", content=meter.next())).status_code == 201
        keys = tmp_path / "meter-keys.json"
        keys.write_text(json.dumps({meter.meter_id: meter.public_key_hex}))
        gateway = new_gateway(tmp_path / "gw", local, upstream, extra=f'meter_keys_file = "{keys}"')
        gateway.start()
        stack.callback(gateway.terminate)

        pool = services_of(agg.app).pool

        async def stored() -> tuple[int, int, int, int]:
            async with pool.acquire() as conn:
                return (await conn.fetchval("SELECT count(*) FROM readings"),
                        await conn.fetchval("SELECT count(*) FROM users"),
                        await conn.fetchval("SELECT count(*) FROM meters"),
                        await conn.fetchval("SELECT count(*) FROM meter_gaps"))

        before = await stored()
        gen = Hostile(meter)
        schema = (await http.get("/openapi.json")).json()
        paths = [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops]
        problems: list[str] = []
        counts = {"http": 0, "mqtt_aggregator": 0, "mqtt_gateway": 0, "relay": 0}

        # 1. HTTP: every route, hostile paths, queries, bodies and tokens.
        sem = asyncio.Semaphore(16)

        async def one_http() -> None:
            method, url = gen.url(paths)
            headers = gen.token()
            body = gen.envelope() if gen.rng.random() < 0.6 else json.dumps(gen.json_value()).encode()
            async with sem:
                if method == "GET":
                    resp = await http.get(url, headers=headers)
                else:
                    resp = await http.post(url, content=body, headers={**headers, "content-type": gen.rng.choice(
                        ["application/json", "application/x-ndjson", "text/plain"])})
            counts["http"] += 1
            plain = url.split("?")[0]
            if resp.status_code >= 500:
                problems.append(f"{method} {url}: {resp.status_code} {resp.text[:200]}")
            elif 200 <= resp.status_code < 300 and method == "POST" and plain != "/api/auth/challenge" \
                    and not (plain == "/api/meters/submit-readings" and resp.json().get("accepted") == 0
                             and resp.json().get("gaps") == 0):
                problems.append(f"{method} {url}: accepted ({resp.status_code} {resp.text[:200]})")
            elif 200 <= resp.status_code < 300 and method == "GET" and not any(
                    _matches(template, plain) for template in PUBLIC_READS):
                problems.append(f"GET {url} with {headers}: private data served ({resp.status_code})")

        phases = {"setup": time.monotonic() - started}
        await asyncio.gather(*(one_http() for _ in range(N_HTTP)))
        phases["http"] = time.monotonic() - started - sum(phases.values())

        # 2. and 3. MQTT: to the aggregator's broker, and to the gateway's local broker.
        agg_items = [(gen.topic(), gen.envelope()) for _ in range(N_MQTT_AGG)]
        gw_items = [(gen.topic(), gen.envelope()) for _ in range(N_MQTT_GW)]
        await asyncio.gather(
            asyncio.to_thread(_publish_many, upstream.host, upstream.port, agg_items, "hostile-agg"),
            asyncio.to_thread(_publish_many, local.host, local.port, gw_items, "hostile-gw"))
        counts["mqtt_aggregator"], counts["mqtt_gateway"] = len(agg_items), len(gw_items)
        phases["mqtt"] = time.monotonic() - started - sum(phases.values())

        # 4. The relay: transactions that must never reach the chain.
        blockhash = Hash.from_string((await http.get("/api/markets")).json()[0]["recent_blockhash"])

        async def one_relay() -> None:
            async with sem:
                resp = await http.post("/api/transactions", json={"transaction": gen.transaction(blockhash)})
            counts["relay"] += 1
            if resp.status_code >= 500 or 200 <= resp.status_code < 300:
                problems.append(f"relay: {resp.status_code} {resp.text[:200]}")

        await asyncio.gather(*(one_relay() for _ in range(N_RELAY)))
        phases["relay"] = time.monotonic() - started - sum(phases.values())

        # No stall: a valid reading through each path is stored.
        _publish_many(local.host, local.port, [(reading_topic(meter.meter_id), meter.next())], "valid-gw")
        _publish_many(upstream.host, upstream.port, [(reading_topic(meter.meter_id), meter.next())], "valid-agg")
        assert (await http.post("/api/meters/submit-reading", content=meter.next())).status_code == 201
        deadline = time.monotonic() + 30
        while (await stored())[0] < before[0] + 3:
            assert time.monotonic() < deadline, f"consumers stalled: {await stored()} stored, {before} before"
            await asyncio.sleep(0.1)
        wait_until(lambda: gateway.health()["status"] == "ok", 10, "gateway healthy")
        ready = await http.get("/readyz")

        assert problems == [], f"{len(problems)} problems, first: {problems[:5]}"
        assert await stored() == (before[0] + 3, *before[1:]), "a hostile input was stored"
        assert ready.status_code == 200 and ready.json()["mqtt"] is True
        total = sum(counts.values())
        assert total >= 10_000, counts
        print(f"hostile inputs: {total} ({counts}) in {time.monotonic() - started:.1f} s "
              f"({ {k: round(v, 1) for k, v in phases.items()} }); 0 accepted, 0 5xx")


def _matches(template: str, path: str) -> bool:
    t, p = template.strip("/").split("/"), path.strip("/").split("/")
    return len(t) == len(p) and all(a == b or a.startswith("{") for a, b in zip(t, p, strict=True))
