"""A trading floor through the aggregator: the app on its in-process chain (LiteSVM, the
real programs), a prosumer whose GRID the minter minted from signed readings, and
consumers holding the market's payment token. Users sign their own transactions
(``aggregator.trading.client``) and the app relays them; the matcher and the indexer
run as the app runs them.
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
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (MintToParams, create_associated_token_account, get_associated_token_address,
                                    mint_to)

from aggregator.app import create_app
from aggregator.chain import token_amount
from aggregator.chain.connect import Chain, local_chain
from aggregator.trading import TradingDesk, local_desk
from aggregator.trading import client as trading_client
from aggregator.services import services_of
from tests.aggregator.agg_helpers import Actors, make_settings, running
from tests.aggregator.test_agg_minter import register_on_chain, submit, wait_for

PAYMENT_UNITS = 10_000_000  # each consumer's payment tokens (10 tokens at 6 decimals)


@contextlib.asynccontextmanager
async def running_app(dsn: str, chain: Chain, desk: TradingDesk, *,
                      matcher: bool = True) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on an existing chain and desk (both outlive it, as a cluster outlives a restart)."""
    settings = make_settings(dsn, chain="litesvm")
    settings.matcher_enabled = matcher
    settings.indexer_poll_s = 0.02  # new orders reach the matcher through the indexer
    settings.mint_sweep_s = 3600
    app = create_app(settings, chain_handle=chain, trading_desk=desk)
    async with running(app) as served:
        yield served


@dataclass
class Floor:
    app: FastAPI
    http: httpx.AsyncClient
    chain: Chain
    desk: TradingDesk
    market_index: int = 0  # which of the desk's markets orders go to

    @property
    def market(self) -> str:
        return str(self.desk.markets[self.market_index].address)

    @property
    def payment_mint(self) -> Pubkey:
        return self.desk.markets[self.market_index].payment_mint

    # --- people ---------------------------------------------------------------------------
    async def prosumer(self, name: str, surplus_wh: int) -> Keypair:
        """A registered prosumer whose meter's signed readings the minter turned into GRID."""
        actors = Actors(self.http)
        owner = await actors.user(name)
        meter = await actors.meter(owner, f"MTR-{name}")
        register_on_chain(self.chain, owner, meter)
        # The first reading is the meter's baseline; each later one exports 1 kWh.
        await submit(self.http, [meter.next(imp_delta=0, exp_delta=1000) for _ in range(surplus_wh // 1000 + 1)])
        await wait_for(lambda: self._minted(owner, surplus_wh))
        self.fund_payment(owner, 0)
        return owner

    async def _minted(self, owner: Keypair, wh: int) -> bool:
        return self.grid(owner) == wh

    def consumer(self, payment_units: int = PAYMENT_UNITS) -> Keypair:
        wallet = Keypair()
        self.chain.local.fund(wallet.pubkey())
        self.fund_payment(wallet, payment_units)
        return wallet

    def fund_payment(self, wallet: Keypair, amount: int) -> None:
        """Create the wallet's payment token account (signed by the wallet) and issue `amount`."""
        issuer = self.desk.payment_mint_authority
        account = get_associated_token_address(wallet.pubkey(), self.payment_mint)
        ixs = [] if self.chain.local.account(account) else [
            create_associated_token_account(wallet.pubkey(), wallet.pubkey(), self.payment_mint)]
        if amount:
            ixs.append(mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=self.payment_mint, dest=account,
                                            mint_authority=issuer.pubkey(), amount=amount)))
        if ixs:
            self.chain.local.send(ixs, [wallet, issuer] if amount else [wallet])

    # --- balances on chain -------------------------------------------------------------------
    def _token(self, account: Pubkey) -> int:
        acc = self.chain.local.account(account)
        return 0 if acc is None else token_amount(bytes(acc.data))

    def grid(self, wallet: Keypair) -> int:
        return self._token(self.chain.registry.token.token_account(wallet.pubkey()))

    def payment(self, wallet: Keypair) -> int:
        return self._token(get_associated_token_address(wallet.pubkey(), self.payment_mint))

    def fees(self) -> int:
        return self._token(self.desk.markets[self.market_index].fee_account)

    def chain_time(self) -> int:
        """The chain clock's unix time (LiteSVM's stands still unless a test moves it)."""
        return self.chain.local.svm.get_clock().unix_timestamp

    def order_on_chain(self, address: str) -> Any:
        return self.desk.trading.read(self.chain.local, Pubkey.from_string(address))

    # --- through the API ------------------------------------------------------------------------
    async def place(self, wallet: Keypair, side: str, price_per_kwh_micro: int, energy_wh: int, *,
                    expires_at: int = 0) -> str:
        """Sign a place_order with the wallet, relay it, wait until it is indexed; its address."""
        market = await trading_client.fetch_market(self.http, self.market)
        tx, address = trading_client.place_order_tx(wallet, market, side=side, price_per_kwh_micro=price_per_kwh_micro,
                                                    energy_wh=energy_wh, expires_at=expires_at)
        resp = await self.http.post("/api/transactions", json={"transaction": tx})
        assert resp.status_code == 201, resp.text
        assert resp.json()["instructions"] == ["place_order"]
        await wait_for(lambda: self._indexed(str(address)))
        return str(address)

    async def _indexed(self, address: str) -> bool:
        return any(o["order_address"] == address for o in await self.orders())

    async def orders(self, **params: str) -> list[dict[str, Any]]:
        resp = await self.http.get("/api/orders", params={"market": self.market, **params})
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def order(self, address: str) -> dict[str, Any]:
        (found,) = [o for o in await self.orders() if o["order_address"] == address]
        return found

    async def trades(self, **params: str) -> list[dict[str, Any]]:
        resp = await self.http.get("/api/trades", params={"market": self.market, **params})
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def book(self) -> dict[str, Any]:
        resp = await self.http.get("/api/orderbook", params={"market": self.market})
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def settled(self, address: str, status: str, *, closed: bool = False) -> None:
        """Wait until the indexed order has `status` (and its account closed, if asked)."""
        async def reached() -> bool:
            return any(o["order_address"] == address and o["status"] == status
                       and (o["closed_at"] is not None) == closed for o in await self.orders())
        await wait_for(reached)

    async def quiet(self) -> None:
        """Let the indexer catch up with everything the chain did, and the matcher act on it."""
        await services_of(self.app).indexer.sync_once()
        await services_of(self.app).matcher.run_once()
        await services_of(self.app).indexer.sync_once()


@pytest.fixture
async def floor(pg_dsn: str) -> AsyncIterator[Floor]:
    """The app on a fresh in-process chain with one continuous market (import it into a test module)."""
    chain = local_chain()
    desk = local_desk(chain)
    async with running_app(pg_dsn, chain, desk) as (app, http):
        yield Floor(app, http, chain, desk)
