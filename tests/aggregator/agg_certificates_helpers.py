"""Certificates through the aggregator: the app on its in-process chain (LiteSVM, the real
programs) holding the certificate issuer key, prosumers whose meters' signed readings the
minter minted, and owners who request, sign, transfer and retire with their own keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from aggregator.app import create_app
from aggregator.certificates import CertificateDesk, local_certificate_desk
from aggregator.certificates import client as cert_client
from aggregator.chain.connect import Chain, local_chain
from aggregator.trading import TradingDesk, local_desk
from aggregator.services import services_of
from tests.aggregator.agg_helpers import Actors, SimMeter, make_settings, running
from tests.aggregator.test_agg_minter import all_minted, register_on_chain, submit, wait_for
from tools.wallet import signed_challenge

READING_WH = 1_000  # each reading after a meter's baseline exports this much


@contextlib.asynccontextmanager
async def running_app(dsn: str, chain: Chain, desk: TradingDesk, certificates: CertificateDesk | None, *,
                      validate_on_issue: bool = True) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on an existing chain and desks (they outlive it, as a cluster outlives a restart)."""
    settings = make_settings(dsn, chain="litesvm")
    settings.certificate_validate_on_issue = validate_on_issue
    settings.indexer_poll_s = 3600  # tests sync the indexer themselves: no background race on the counts
    settings.mint_sweep_s = 3600
    settings.matcher_enabled = False
    app = create_app(settings, chain_handle=chain, trading_desk=desk, certificate_desk=certificates)
    async with running(app) as served:
        yield served


@dataclass
class Prosumer:
    wallet: Keypair
    meter: SimMeter
    first_at: int  # the meter's baseline reading (unix s)

    def reading_at(self, n: int) -> int:
        """Timestamp of the n-th reading after the baseline."""
        return self.first_at + n * self.meter.interval_s


@dataclass
class Bureau:
    app: FastAPI
    http: httpx.AsyncClient
    chain: Chain
    desk: CertificateDesk

    @property
    def certificates(self) -> Any:
        return self.desk.certificates

    # --- people ---------------------------------------------------------------------------
    async def prosumer(self, name: str, readings: int) -> Prosumer:
        """A registered prosumer whose meter sent a baseline and `readings` readings of
        READING_WH each, all minted."""
        actors = Actors(self.http)
        owner = await actors.user(name)
        meter = await actors.meter(owner, f"MTR-{name}")
        register_on_chain(self.chain, owner, meter)
        messages = [meter.next(imp_delta=0, exp_delta=READING_WH) for _ in range(readings + 1)]
        first_at = meter.ts - readings * meter.interval_s
        await submit(self.http, messages)
        await wait_for(lambda: all_minted(self.app))
        return Prosumer(owner, meter, first_at)

    def stranger(self) -> Keypair:
        wallet = Keypair()
        self.chain.local.fund(wallet.pubkey())
        return wallet

    # --- through the API ------------------------------------------------------------------------
    async def request(self, owner: Keypair, meter_id: str, *, start_at: int | None = None,
                      end_at: int | None = None, source: str = "solar") -> httpx.Response:
        """``POST /api/certificates`` signed by `owner` (wallet-signed challenge)."""
        fields = {"meter_id": meter_id, "source": source, "start_at": "" if start_at is None else str(start_at),
                  "end_at": "" if end_at is None else str(end_at)}
        nonce, signature = await signed_challenge(self.http, owner, "request_certificate", fields)
        return await self.http.post("/api/certificates", json={
            "meter_id": meter_id, "owner_wallet": str(owner.pubkey()), "start_at": start_at, "end_at": end_at,
            "source": source, "nonce": nonce, "signature": signature})

    async def relay(self, transaction: str) -> httpx.Response:
        return await self.http.post("/api/transactions", json={"transaction": transaction})

    async def issue(self, p: Prosumer, **interval: int) -> dict[str, Any]:
        """Request, sign as the owner, relay and index a certificate; the indexed row."""
        resp = await self.request(p.wallet, p.meter.meter_id, **interval)
        assert resp.status_code == 201, resp.text
        prepared = resp.json()
        sent = await self.relay(cert_client.sign_issuance(p.wallet, prepared["transaction"]))
        assert sent.status_code == 201, sent.text
        await services_of(self.app).indexer.sync_once()
        return await self.get(prepared["certificate"])

    async def transfer(self, holder: Keypair, certificate: str, new_owner: Pubkey) -> httpx.Response:
        blockhash = (await self.get(certificate))["recent_blockhash"]
        return await self.relay(cert_client.transfer_tx(holder, certificate, new_owner, blockhash, self.certificates))

    async def retire(self, holder: Keypair, certificate: str) -> httpx.Response:
        blockhash = (await self.get(certificate))["recent_blockhash"]
        return await self.relay(cert_client.retire_tx(holder, certificate, blockhash, self.certificates))

    async def get(self, certificate: str) -> dict[str, Any]:
        resp = await self.http.get(f"/api/certificates/{certificate}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def listing(self, **params: str) -> list[dict[str, Any]]:
        resp = await self.http.get("/api/certificates", params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    # --- the chain itself -------------------------------------------------------------------------
    @staticmethod
    def on_chain_address(certificate: str) -> Pubkey:
        return Pubkey.from_string(certificate)

    def on_chain(self, certificate: str) -> Any:
        account = self.chain.local.account(Pubkey.from_string(certificate))
        assert account is not None
        return self.certificates.decode(bytes(account.data))

    def tracker(self, meter_id: str) -> Any:
        meter = self.chain.registry.meter_address(meter_id)
        return self.certificates.decode(bytes(self.chain.local.account(self.certificates.tracker_address(meter)).data))


def error(resp: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    body = resp.json()["error"]
    return resp.status_code, body["reason"], body.get("detail", {})


@pytest.fixture
async def bureau(pg_dsn: str) -> AsyncIterator[Bureau]:
    """The app on a fresh in-process chain with a market and the certificates program
    (import it into a test module)."""
    chain = local_chain()
    desk, certificates = local_desk(chain), local_certificate_desk(chain)
    async with running_app(pg_dsn, chain, desk, certificates) as (app, http):
        yield Bureau(app, http, chain, certificates)
