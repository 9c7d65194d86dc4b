"""Trading over JSON-RPC: the app opens the chain, its markets and the matcher key from its
settings (``GTX_CHAIN_BACKEND=rpc``, ``GTX_CHAIN_MARKETS``, ``GTX_CHAIN_MATCHER_KEYPAIR``)
and talks to tools/localnet (the real programs in LiteSVM behind Solana JSON-RPC), served
from this test process. Orders are signed by their owners and relayed, matched, settled
and indexed, all over RPC; the test itself reaches the chain only over RPC too, once the
market exists."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (MintToParams, create_associated_token_account, get_associated_token_address,
                                    mint_to)

from aggregator.app import create_app
from aggregator.chain import PROSUMER, Registry, token_amount
from aggregator.chain.backend import RpcBackend
from aggregator.chain.connect import deployed_programs, local_chain
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.trading import fee_of, value_of
from aggregator.config import ChainSettings, Settings
from aggregator.trading import TradingDesk, local_desk
from aggregator.trading import client as trading_client
from aggregator.services import services_of
from tests.aggregator.agg_helpers import ADMIN_WALLET, Actors, running
from tests.aggregator.test_agg_minter import submit, wait_for
from tests.chain.chain_world import serve_localnet

PAYMENT_UNITS = 10_000_000


def key_file(path: Path, key: Keypair) -> Path:
    path.write_text(json.dumps(list(bytes(key))))
    path.chmod(0o600)
    return path


def rpc_settings(dsn: str, rpc_url: str, oracle: Path, matcher: Path | None, markets: list[str]) -> Settings:
    return Settings(database_url=dsn, log_json=True, log_level="WARNING", indexer_poll_s=0.02, mint_sweep_s=3600,
                    admin_wallets=frozenset({ADMIN_WALLET}),
                    chain=ChainSettings(backend="rpc", rpc_url=rpc_url, oracle_keypair=oracle,
                                        matcher_keypair=matcher, markets=markets))


@contextlib.asynccontextmanager
async def rpc_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with running(app) as served:
        yield served


class RpcTraders:
    """People on the market, reached through the same RPC endpoint as the app."""

    def __init__(self, rpc: RpcBackend, http: httpx.AsyncClient, desk: TradingDesk) -> None:
        self.rpc, self.http, self.desk = rpc, http, desk
        self.market = desk.markets[0]
        self.grid_token = desk.trading.token

    async def wallet(self) -> Keypair:
        kp = Keypair()
        await self.rpc.client.request_airdrop(kp.pubkey(), 10**10)
        return kp

    async def consumer(self) -> Keypair:
        wallet = await self.wallet()
        await self.rpc.send([create_associated_token_account(wallet.pubkey(), wallet.pubkey(),
                                                             self.market.payment_mint),
                             mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=self.market.payment_mint,
                                                  dest=self.payment_account(wallet), amount=PAYMENT_UNITS,
                                                  mint_authority=self.desk.payment_mint_authority.pubkey()))],
                            [wallet, self.desk.payment_mint_authority])
        return wallet

    async def prosumer(self, name: str, surplus_wh: int, registry: Registry) -> Keypair:
        """Registered through the API and on chain; its meter's readings minted into GRID."""
        owner = await Actors(self.http).user(name)
        meter = await Actors(self.http).meter(owner, f"MTR-{name}")
        await self.rpc.client.request_airdrop(owner.pubkey(), 10**10)
        await self.rpc.send([registry.register_user(owner.pubkey(), PROSUMER),
                             registry.register_meter(owner.pubkey(), meter.meter_id,
                                                     bytes.fromhex(meter.public_key_hex), "lab")], [owner])
        await submit(self.http, [meter.next(imp_delta=0, exp_delta=1000) for _ in range(surplus_wh // 1000 + 1)])
        await wait_for(lambda: self._holds_grid(owner, surplus_wh))
        await self.rpc.send([create_associated_token_account(owner.pubkey(), owner.pubkey(),
                                                             self.market.payment_mint)], [owner])
        return owner

    async def _holds_grid(self, owner: Keypair, wh: int) -> bool:
        return await self.grid(owner) == wh

    def payment_account(self, wallet: Keypair) -> Pubkey:
        return get_associated_token_address(wallet.pubkey(), self.market.payment_mint)

    async def _token(self, account: Pubkey) -> int:
        acc = await self.rpc.account(account)
        return 0 if acc is None else token_amount(bytes(acc.data))

    async def grid(self, wallet: Keypair) -> int:
        return await self._token(self.grid_token.token_account(wallet.pubkey()))

    async def payment(self, wallet: Keypair) -> int:
        return await self._token(self.payment_account(wallet))

    async def fees(self) -> int:
        return await self._token(self.market.fee_account)

    async def place(self, wallet: Keypair, side: str, price_per_kwh_micro: int, energy_wh: int) -> str:
        market = await trading_client.fetch_market(self.http, str(self.market.address))
        tx, address = trading_client.place_order_tx(wallet, market, side=side, price_per_kwh_micro=price_per_kwh_micro,
                                                    energy_wh=energy_wh)
        resp = await self.http.post("/api/transactions", json={"transaction": tx})
        assert resp.status_code == 201, resp.text
        return str(address)

    async def orders(self) -> dict[str, dict]:
        resp = await self.http.get("/api/orders", params={"market": str(self.market.address)})
        return {o["order_address"]: o for o in resp.json()}


async def test_orders_relayed_matched_and_settled_over_json_rpc(pg_dsn: str, tmp_path: Path) -> None:
    chain = local_chain()
    desk = local_desk(chain)  # the market and its matcher exist before the service starts, as on a cluster
    market = str(desk.markets[0].address)
    with serve_localnet(chain.local) as rpc_url:
        settings = rpc_settings(pg_dsn, rpc_url, key_file(tmp_path / "oracle.json", chain.oracle),
                                key_file(tmp_path / "matcher.json", desk.matcher), [market])
        rpc = RpcBackend(rpc_url, deployed_programs())
        try:
            async with rpc_app(settings) as (app, http):
                (served,) = (await http.get("/api/markets")).json()
                assert (served["address"], served["matched_here"]) == (market, True)
                people = RpcTraders(rpc, http, desk)
                s1 = await people.prosumer("rpc-s1", 3_000, chain.registry)
                s2 = await people.prosumer("rpc-s2", 2_000, chain.registry)
                b1, b2 = await people.consumer(), await people.consumer()

                await people.place(s1, "sell", 100_000, 3_000)
                ask2 = await people.place(s2, "sell", 110_000, 2_000)
                bid1 = await people.place(b1, "buy", 120_000, 2_500)  # takes 2,500 of s1's ask at 100_000
                bid2 = await people.place(b2, "buy", 110_000, 1_500)  # 500 of s1's, 1,000 of s2's

                async def both_bids_closed() -> bool:
                    orders = await people.orders()
                    return all(orders.get(b, {}).get("status") == "filled" and orders[b]["closed_at"]
                               for b in (bid1, bid2))
                await wait_for(both_bids_closed)
                await services_of(app).indexer.sync_once()
                trades = (await http.get("/api/trades", params={"market": market})).json()
                assert sorted((t["energy_wh"], t["price_per_kwh_micro"]) for t in trades) == [
                    (500, 100_000), (1_000, 110_000), (2_500, 100_000)]
                # What the chain holds agrees with what the service indexed, wallet by wallet.
                for wallet in (b1, b2):
                    mine = [t for t in trades if t["buyer_wallet"] == str(wallet.pubkey())]
                    assert await people.grid(wallet) == sum(t["energy_wh"] for t in mine)
                    # Price improvement came back when the filled bid was closed: each paid the trade prices.
                    assert await people.payment(wallet) == PAYMENT_UNITS - sum(t["value_micro"] for t in mine)
                for wallet in (s1, s2):
                    mine = [t for t in trades if t["seller_wallet"] == str(wallet.pubkey())]
                    assert await people.grid(wallet) == 0  # all of it sold or still escrowed in an ask
                    assert await people.payment(wallet) == sum(t["value_micro"] - t["fee_micro"] for t in mine)
                left = desk.trading.decode(bytes((await rpc.account(Pubkey.from_string(ask2))).data)).remaining_wh
                assert left == (await people.orders())[ask2]["remaining_wh"] == 1_000
                assert all(t["value_micro"] == value_of(t["price_per_kwh_micro"], t["energy_wh"])
                           and t["fee_micro"] == fee_of(t["value_micro"], 25) for t in trades)
                assert await people.fees() == sum(t["fee_micro"] for t in trades)
        finally:
            await rpc.close()


async def test_a_matcher_key_that_is_not_the_market_s_matcher_is_refused_at_start(pg_dsn: str,
                                                                                  tmp_path: Path) -> None:
    chain = local_chain()
    desk = local_desk(chain)
    market = str(desk.markets[0].address)
    impostor = Keypair()
    with serve_localnet(chain.local) as rpc_url:
        oracle = key_file(tmp_path / "oracle.json", chain.oracle)
        wrong = key_file(tmp_path / "not-the-matcher.json", impostor)
        with pytest.raises(ChainSetupError) as refused:
            async with rpc_app(rpc_settings(pg_dsn, rpc_url, oracle, wrong, [market])):
                pass
        message = str(refused.value)
        assert str(wrong) in message and str(impostor.pubkey()) in message and market in message
        assert "is not the matcher of" in message
        # Market addresses are checked too: each must be a trading market on this chain.
        for bad, why in (("not-an-address", "is not a base58 account address"),
                         (str(chain.oracle.pubkey()), "is not a trading market on this chain")):
            with pytest.raises(ChainSetupError, match=why):
                async with rpc_app(rpc_settings(pg_dsn, rpc_url, oracle, None, [market, bad])):
                    pass

        # Serving a market without its key is allowed: the market is listed, not matched.
        async with rpc_app(rpc_settings(pg_dsn, rpc_url, oracle, None, [market])) as (app, http):
            (served,) = (await http.get("/api/markets")).json()
            assert (served["address"], served["matched_here"]) == (market, False)
            assert services_of(app).matcher is None
