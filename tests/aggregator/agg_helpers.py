"""Test helpers: wallets that sign challenges, meters that sign readings."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from solders.keypair import Keypair

from aggregator.config import ChainSettings, IngestPolicy, Settings
from common.envelope import public_key_from_seed, sign_envelope
from tools import wallet


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan started, and an in-process HTTP client to it."""
    async with app.router.lifespan_context(app), app_client(app) as http:
        yield app, http


@contextlib.asynccontextmanager
async def app_client(app: FastAPI, base_url: str = "http://aggregator") -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client of a started app; it reads as the test admin when the
    app's settings name one (:func:`make_settings` does)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
        if ADMIN_WALLET in app.state.services.settings.admin_wallets:
            await wallet.authorize(http, ADMIN)
        yield http


def seed_for(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


#: The test apps' admin: test clients read private data with its token (the access rules
#: themselves are tested in test_agg_access_matrix.py).
ADMIN = Keypair.from_seed(seed_for("wallet:test-admin"))
ADMIN_WALLET = str(ADMIN.pubkey())


def make_settings(dsn: str, *, chain: str = "none", **ingest: Any) -> Settings:
    """Settings for a test app; no chain (and so no minter) unless ``chain`` names one."""
    return Settings(database_url=dsn, log_json=True, log_level="WARNING", ingest=IngestPolicy(**ingest),
                    chain=ChainSettings(backend=chain), admin_wallets=frozenset({ADMIN_WALLET}))


@dataclass
class SimMeter:
    """A meter that produces signed, valid-by-default consecutive readings."""

    meter_id: str
    seed: bytes
    seq: int = 0
    ts: int = field(default_factory=lambda: int(time.time()) - 2 * 86400)
    imp_wh: int = 1_000_000
    exp_wh: int = 500_000
    interval_s: int = 300

    @property
    def public_key_hex(self) -> str:
        return public_key_from_seed(self.seed).hex()

    def reading(self, **override: Any) -> dict[str, Any]:
        r = {
            "kind": "reading", "meter": self.meter_id, "seq": self.seq, "ts": self.ts, "clk": 1,
            "int_s": self.interval_s, "imp_wh": self.imp_wh, "exp_wh": self.exp_wh, "v_dv": 2300,
            "i_ma": 5000, "p_w": -1200, "pf_milli": 990, "f_chz": 5000, "fw": "1.0.0",
        }
        r.update(override)
        return r

    def next(self, *, imp_delta: int = 100, exp_delta: int = 250, dt_s: int | None = None, **override: Any) -> bytes:
        """Advance the meter one interval and return the signed wire message."""
        self.seq += 1
        self.ts += self.interval_s if dt_s is None else dt_s
        self.imp_wh += imp_delta
        self.exp_wh += exp_delta
        return self.sign(self.reading(**override))

    def sign(self, reading: dict[str, Any]) -> bytes:
        return sign_envelope(self.seed, reading)


class Actors:
    """Registers wallets and meters through the real REST API (signing: tools.wallet)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def signed(self, kp: Keypair, purpose: str, fields: dict[str, str]) -> tuple[str, str]:
        return await wallet.signed_challenge(self.client, kp, purpose, fields)

    async def user(self, name: str, role: str = "prosumer") -> Keypair:
        kp = Keypair.from_seed(seed_for("wallet:" + name))
        resp = await wallet.register_user(self.client, kp, role, display_name=name)
        assert resp.status_code == 201, resp.text
        return kp

    async def meter(self, owner: Keypair, meter_id: str) -> SimMeter:
        meter = SimMeter(meter_id, seed_for("meter:" + meter_id))
        resp = await wallet.register_meter(self.client, owner, meter_id, bytes.fromhex(meter.public_key_hex))
        assert resp.status_code == 201, resp.text
        return meter

    async def set_status(self, owner: Keypair, meter_id: str, status: str) -> httpx.Response:
        return await wallet.set_meter_status(self.client, owner, meter_id, status)
