"""The community's scripted traders and its certificates, on the aggregator's two markets.

Every simulated hour (and before every 15-minute auction slot closes) the traders act,
each with their own key, every order relayed by ``POST /api/transactions``:

- a prosumer offers the GRID it holds (minted from its signed export) above its floor
  price: half on the continuous market (a little above the floor), half in the
  15-minute uniform-price auction (at the floor);
- a consumer bids for what its meter imported since it last bought: half on each market,
  at its limit price; a green buyer adds a premium to its continuous bids and receives
  certificates for the energy it bought from certified producers, which it retires.

Every hour each prosumer has its production certified (``POST /api/certificates``, signed
as the owner, co-signed by the aggregator's issuer). The payment token is the market's
stand-in token, issued to consumers as a deposit (stand-in payment token; THB rail pending).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import MintToParams, create_associated_token_account, get_associated_token_address, mint_to

from aggregator.certificates import client as cert_client
from aggregator.chain import token_amount
from aggregator.chain.trading import MarketRef, value_of
from aggregator.services import services_of
from aggregator.trading import TradingDesk
from aggregator.trading import client as trading_client
from demo.fleet import Participant
from demo.services import Aggregator, DemoError
from tools.wallet import signed_challenge

__all__ = ["Counters", "Traders", "DEPOSIT", "GREEN_PREMIUM", "PAYMENT_LABEL"]

DEPOSIT = 500 * 10**6  # each consumer's stand-in deposit: 500 tokens
GREEN_PREMIUM = 30_000  # base units per kWh a green buyer adds to its continuous bids
ASK_MARKUP = 10_000  # a prosumer's continuous ask above its floor
MIN_ORDER_WH = 50
PAYMENT_LABEL = "stand-in payment token; THB rail pending"


@dataclass
class Counters:
    orders: int = 0
    refused: int = 0
    certificates: int = 0
    transferred: int = 0
    retired: int = 0
    deposits: int = 0  # payment base units issued to consumers
    cert_refused: dict[str, int] = field(default_factory=dict)  # reason code -> requests refused


@dataclass
class Traders:
    agg: Aggregator
    desk: TradingDesk
    people: list[Participant]
    pool: asyncpg.Pool
    counters: Counters = field(default_factory=Counters)
    bought_until: dict[str, int] = field(default_factory=dict)  # meter -> readings.id already bid for
    green_covered: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    green_bought: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    trades_seen: int = 0

    @property
    def continuous(self) -> MarketRef:
        return self.desk.markets[0]

    @property
    def auction(self) -> MarketRef:
        return self.desk.markets[1]

    @property
    def local(self) -> Any:
        local = self.agg.chain.local
        assert local is not None
        return local

    # --- chain reads -------------------------------------------------------------------------
    def token(self, account: Pubkey) -> int:
        found = self.local.account(account)
        return 0 if found is None else token_amount(bytes(found.data))

    def grid_of(self, wallet: Keypair) -> int:
        return self.token(self.agg.chain.registry.token.token_account(wallet.pubkey()))

    def payment_of(self, wallet: Keypair) -> int:
        return self.token(get_associated_token_address(wallet.pubkey(), self.continuous.payment_mint))

    # --- the stand-in deposit --------------------------------------------------------------------
    def deposit(self) -> None:
        issuer = self.desk.payment_mint_authority
        if issuer is None:
            raise DemoError("the market's payment mint authority is not held here: cannot fund the consumers")
        mint = self.continuous.payment_mint
        for p in self.people:
            account = get_associated_token_address(p.wallet.pubkey(), mint)
            ixs = [] if self.local.account(account) else [
                create_associated_token_account(p.wallet.pubkey(), p.wallet.pubkey(), mint)]
            if p.role == "consumer":
                ixs.append(mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=mint, dest=account,
                                                mint_authority=issuer.pubkey(), amount=DEPOSIT)))
                self.counters.deposits += DEPOSIT
            self.local.send(ixs, [p.wallet, issuer] if p.role == "consumer" else [p.wallet])

    # --- orders --------------------------------------------------------------------------------
    async def _place(self, markets: dict[str, dict[str, Any]], market: MarketRef, p: Participant, side: str,
                     price: int, energy_wh: int) -> None:
        m = markets[str(market.address)]
        tx, _ = trading_client.place_order_tx(p.wallet, m, side=side, price_per_kwh_micro=price, energy_wh=energy_wh,
                                              trading=self.desk.trading)
        resp = await self.agg.client.post("/api/transactions", json={"transaction": tx})
        if resp.status_code == 201:
            m["next_order_id"] += 1
            self.counters.orders += 1
        else:
            self.counters.refused += 1

    async def _markets(self) -> dict[str, dict[str, Any]]:
        resp = await self.agg.client.get("/api/markets")
        if resp.status_code != 200:
            raise DemoError(f"GET /api/markets: HTTP {resp.status_code}")
        return {m["address"]: m for m in resp.json()}

    async def trade_round(self) -> None:
        """Every trader's orders for this round, in a fixed order (deterministic ids)."""
        markets = await self._markets()
        for p in self.people:
            if p.role == "prosumer":
                free = self.grid_of(p.wallet)
                if free < 2 * MIN_ORDER_WH:
                    continue
                half = free // 2
                await self._place(markets, self.continuous, p, "sell", p.floor_micro + ASK_MARKUP, half)
                await self._place(markets, self.auction, p, "sell", p.floor_micro, free - half)
            else:
                need = await self._imported_since(p)
                if need < 2 * MIN_ORDER_WH:
                    continue
                cont_price = p.floor_micro + (GREEN_PREMIUM if p.green else 0)
                half = need // 2
                budget = self.payment_of(p.wallet)
                if value_of(cont_price, half) + value_of(p.floor_micro, need - half) > budget:
                    continue
                await self._place(markets, self.continuous, p, "buy", cont_price, half)
                await self._place(markets, self.auction, p, "buy", p.floor_micro, need - half)

    async def _imported_since(self, p: Participant) -> int:
        """What the consumer's meter imported since its last bid (stored, signed readings)."""
        since = self.bought_until.get(p.meter_id, 0)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT coalesce(max(id), $2) AS last, coalesce(sum(consumption_wh), 0) AS wh "
                "FROM readings WHERE meter_id = $1 AND id > $2", p.meter_id, since)
        self.bought_until[p.meter_id] = int(row["last"])
        return int(row["wh"])

    # --- certificates ----------------------------------------------------------------------------
    async def certify_round(self) -> None:
        """Each prosumer's production since its last certificate, certified; green buyers
        receive certificates for what they bought from certified producers and retire them."""
        for p in self.people:
            if p.role == "prosumer":
                await self._issue(p)
        indexer = services_of(self.agg.app).indexer
        if indexer is not None:
            await indexer.sync_once()
        await self._green_transfers()

    async def _issue(self, p: Participant) -> None:
        fields = {"meter_id": p.meter_id, "source": "solar", "start_at": "", "end_at": ""}
        nonce, signature = await signed_challenge(self.agg.client, p.wallet, "request_certificate", fields)
        resp = await self.agg.client.post("/api/certificates", json={
            "meter_id": p.meter_id, "owner_wallet": str(p.wallet.pubkey()), "source": "solar",
            "nonce": nonce, "signature": signature})
        if resp.status_code != 201:  # nothing new to certify yet (night, or readings not yet minted)
            reason = str(resp.json().get("error", {}).get("reason", resp.status_code))
            self.counters.cert_refused[reason] = self.counters.cert_refused.get(reason, 0) + 1
            return
        sent = await self.agg.client.post("/api/transactions", json={
            "transaction": cert_client.sign_issuance(p.wallet, resp.json()["transaction"])})
        if sent.status_code == 201:
            self.counters.certificates += 1
        else:
            reason = "relay " + str(sent.json().get("error", {}).get("reason", sent.status_code))
            self.counters.cert_refused[reason] = self.counters.cert_refused.get(reason, 0) + 1

    async def relay(self, tx: str) -> bool:
        resp = await self.agg.client.post("/api/transactions", json={"transaction": tx})
        return resp.status_code == 201

    async def _green_transfers(self) -> None:
        wallets = {str(p.wallet.pubkey()): p for p in self.people}
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, buyer_wallet, seller_wallet, energy_wh FROM trades WHERE id > $1 "
                                    "ORDER BY id", self.trades_seen)
        for r in rows:
            self.trades_seen = max(self.trades_seen, r["id"])
            buyer = wallets.get(r["buyer_wallet"])
            if buyer is not None and buyer.green:
                self.green_bought[(r["seller_wallet"], r["buyer_wallet"])] += r["energy_wh"]
        for (seller_w, buyer_w), bought in sorted(self.green_bought.items()):
            owed = bought - self.green_covered[(seller_w, buyer_w)]
            seller, buyer = wallets[seller_w], wallets[buyer_w]
            if owed <= 0:
                continue
            resp = await self.agg.client.get("/api/certificates", params={"owner": seller_w})
            if resp.status_code != 200:
                continue
            for cert in sorted(resp.json(), key=lambda c: (c["meter_id"], c["sequence"])):
                if cert["status"] != "valid" or cert["energy_wh"] > owed:
                    continue
                detail = (await self.agg.client.get(f"/api/certificates/{cert['address']}")).json()
                tx = cert_client.transfer_tx(seller.wallet, cert["address"], buyer.wallet.pubkey(),
                                             detail["recent_blockhash"])
                if not await self.relay(tx):
                    continue
                self.counters.transferred += 1
                owed -= cert["energy_wh"]
                self.green_covered[(seller_w, buyer_w)] += cert["energy_wh"]
                detail = (await self.agg.client.get(f"/api/certificates/{cert['address']}")).json()
                if await self.relay(cert_client.retire_tx(buyer.wallet, cert["address"], detail["recent_blockhash"])):
                    self.counters.retired += 1
        indexer = services_of(self.agg.app).indexer
        if indexer is not None:
            await indexer.sync_once()
