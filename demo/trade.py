"""The trade: the prosumer sells part of the GRID just minted to the consumer.

Both sign their own orders with their own keys (``aggregator.trading.client``) and the
aggregator only relays them (``POST /api/transactions``); its matcher settles the crossing
pair on chain (``settle_fills``), closes the filled orders (rent and the buyer's price
improvement back to the owners) and its indexer records what the chain did. The read-back
compares token balances and the market's account, read directly from the in-process
LiteSVM, with what ``/api/trades`` and ``/api/orders`` report.

Units are the program's: energy in Wh (GRID base units), prices in payment-token base
units per kWh (micro-units of the 6-decimal payment token), values ``price * Wh / 1000``
and fees (rounded up, paid by the seller) in payment base units.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import httpx
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import MintToParams, create_associated_token_account, get_associated_token_address, mint_to

from aggregator.chain import token_amount
from aggregator.chain.connect import Chain
from aggregator.chain.trading import MarketRef, fee_of, value_of
from aggregator.services import services_of
from aggregator.trading import TradingDesk
from aggregator.trading import client as trading_client
from demo.feed import grid
from demo.services import Aggregator, DemoError

__all__ = ["Terms", "TradeFloor", "open_floor", "tokens", "PAYMENT_SCALE"]

PAYMENT_SCALE = 10**6  # the payment token has 6 decimals
DEPOSIT_MIN = 10 * PAYMENT_SCALE  # the consumer's stand-in stablecoin deposit: at least 10 tokens


def tokens(units: int) -> str:
    """Payment base units as tokens (6 decimals)."""
    return f"{Decimal(units) / PAYMENT_SCALE:,.6f}"


def per_kwh(micro: int) -> str:
    return f"{tokens(micro)}/kWh ({micro:,} base units)"


@dataclass(frozen=True)
class Terms:
    """What the two sides sign (the ask's and the bid's limit prices, the energy traded) and
    the market's fee."""

    energy_wh: int
    ask_micro: int
    bid_micro: int
    fee_bps: int

    @property
    def value(self) -> int:  # the trade's value at the resting ask's price (the maker's)
        return value_of(self.ask_micro, self.energy_wh)

    @property
    def fee(self) -> int:
        return fee_of(self.value, self.fee_bps)

    @property
    def bid_escrow(self) -> int:
        return value_of(self.bid_micro, self.energy_wh)

    @property
    def improvement(self) -> int:  # what the bid escrowed beyond the trade's value
        return self.bid_escrow - self.value


@dataclass
class Holdings:
    """Token balances on chain (base units), and the market's own counters."""

    prosumer_grid: int
    consumer_grid: int
    prosumer_payment: int
    consumer_payment: int
    fee_account: int
    grid_vault: int
    payment_vault: int
    market_volume_wh: int
    market_fees: int

    def minus(self, before: Holdings) -> Holdings:
        return Holdings(*(getattr(self, f.name) - getattr(before, f.name) for f in fields(self)))


@dataclass
class TradeFloor:
    """The demo's market as the aggregator serves it, and the two traders."""

    agg: Aggregator
    desk: TradingDesk
    ref: MarketRef
    market: dict[str, Any]  # GET /api/markets item
    prosumer: Keypair
    consumer: Keypair

    @property
    def http(self) -> httpx.AsyncClient:
        return self.agg.client

    @property
    def chain(self) -> Chain:
        return self.agg.chain

    @property
    def address(self) -> str:
        return self.market["address"]

    # --- chain state -------------------------------------------------------------------------
    def _token(self, account: Pubkey) -> int:
        assert self.chain.local is not None
        found = self.chain.local.account(account)
        return 0 if found is None else token_amount(bytes(found.data))

    def grid_account(self, wallet: Keypair) -> Pubkey:
        return self.chain.registry.token.token_account(wallet.pubkey())

    def payment_account(self, wallet: Keypair) -> Pubkey:
        return get_associated_token_address(wallet.pubkey(), self.ref.payment_mint)

    def holdings(self) -> Holdings:
        assert self.chain.local is not None
        m = self.desk.trading.read(self.chain.local, self.ref.address)
        return Holdings(
            self._token(self.grid_account(self.prosumer)), self._token(self.grid_account(self.consumer)),
            self._token(self.payment_account(self.prosumer)), self._token(self.payment_account(self.consumer)),
            self._token(self.ref.fee_account), self._token(self.ref.grid_vault), self._token(self.ref.payment_vault),
            m.volume_wh, m.fees_collected)

    def order_account_open(self, address: str) -> bool:
        assert self.chain.local is not None
        return self.chain.local.account(Pubkey.from_string(address)) is not None

    # --- steps ---------------------------------------------------------------------------------
    def show_market(self) -> None:
        m = self.market
        kind = "continuous" if m["auction_slot_secs"] == 0 else f"auction every {m['auction_slot_secs']} s"
        print(f"   market   {m['address']}  ({kind}; matched here: {m['matched_here']}, matcher {m['matcher']})")
        print(f"            fee {m['fee_bps']} bps ({Decimal(m['fee_bps']) / 100:g} %, "
              "paid by the seller, rounded up), "
              f"lot {m['lot_size_wh']:,} Wh, tick {per_kwh(m['tick_size_per_kwh_micro'])}")
        print(f"            GRID {m['grid_mint']} against payment token {m['payment_mint']} (6 decimals)")
        print(f"            fee account {m['fee_account']}")
        for what, unit in m["units"].items():
            print(f"            {what:<7}{unit}")

    def deposit(self, amount: int) -> None:
        """Issue payment tokens to the consumer's own token account (created with the consumer's key)."""
        issuer = self.desk.payment_mint_authority
        if issuer is None:
            raise DemoError("the market's payment mint authority is not held here: cannot fund the consumer")
        assert self.chain.local is not None
        account = self.payment_account(self.consumer)
        ixs = [] if self.chain.local.account(account) else [
            create_associated_token_account(self.consumer.pubkey(), self.consumer.pubkey(), self.ref.payment_mint)]
        ixs.append(mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=self.ref.payment_mint, dest=account,
                                        mint_authority=issuer.pubkey(), amount=amount)))
        result = self.chain.local.send(ixs, [self.consumer, issuer])
        print(f"   consumer payment account {account}: +{tokens(amount)} tokens  "
              f"(mint_to, tx {result.signature[:20]}...)")
        print("            the market's payment-mint authority issues them on LiteSVM: this stands in for a "
              "stablecoin deposit")

    async def place(self, wallet: Keypair, side: str, price_micro: int, energy_wh: int) -> str:
        """Sign a place_order with `wallet`, relay it, wait until indexed; the order's address."""
        market = await trading_client.fetch_market(self.http, self.address)
        tx, address = trading_client.place_order_tx(wallet, market, side=side, price_per_kwh_micro=price_micro,
                                                    energy_wh=energy_wh)
        resp = await self.http.post("/api/transactions", json={"transaction": tx})
        if resp.status_code != 201:
            raise DemoError(f"relaying the {side} order: HTTP {resp.status_code} {resp.text}")
        relayed = resp.json()
        escrow = (f"{energy_wh:,} Wh of GRID" if side == "sell"
                  else f"{tokens(value_of(price_micro, energy_wh))} payment tokens")
        print(f"   {side:<4} order #{market['next_order_id']} {address}: {energy_wh:,} Wh at {per_kwh(price_micro)}, "
              f"signed by {wallet.pubkey()}")
        print(f"            relayed: tx {relayed['signature'][:20]}...  {', '.join(relayed['instructions'])}, "
              f"{relayed['compute_units']:,} CU; escrowed {escrow}")
        await until(lambda: self._indexed(str(address)), f"the {side} order to be indexed")
        return str(address)

    async def _indexed(self, address: str) -> bool:
        return any(o["order_address"] == address for o in await self.orders())

    async def orders(self) -> list[dict[str, Any]]:
        return await self._get("/api/orders", market=self.address)

    async def trades(self) -> list[dict[str, Any]]:
        return await self._get("/api/trades", market=self.address)

    async def _get(self, path: str, **params: str) -> Any:
        resp = await self.http.get(path, params=params)
        if resp.status_code != 200:
            raise DemoError(f"GET {path}: HTTP {resp.status_code} {resp.text}")
        return resp.json()

    async def show_book(self) -> None:
        book = await self._get("/api/orderbook", market=self.address)
        for side, levels in (("asks", book["asks"]), ("bids", book["bids"])):
            if not levels:
                print(f"   {side}     (none)")
            for level in levels:
                print(f"   {side}     {level['energy_wh']:>7,} Wh at {per_kwh(level['price_per_kwh_micro'])}  "
                      f"({level['orders']} order{'s' if level['orders'] != 1 else ''})")

    async def wait_settled(self, orders: list[str], timeout_s: float = 20.0) -> bool:
        """Until the orders are filled and their accounts closed, as indexed; False on timeout."""
        async def done() -> bool:
            rows = {o["order_address"]: o for o in await self.orders()}
            return all(a in rows and rows[a]["status"] == "filled" and rows[a]["closed_at"] for a in orders)
        try:
            await until(done, "the orders to be settled and closed", timeout_s)
        except DemoError:
            return False
        return True

    async def show_trade(self, terms: Terms) -> dict[str, Any] | None:
        trades = await self.trades()
        for t in trades:
            print(f"   trade    {t['energy_wh']:,} Wh ({grid(t['energy_wh'])}) at {per_kwh(t['price_per_kwh_micro'])}: "
                  f"value {tokens(t['value_micro'])}, fee {tokens(t['fee_micro'])} "
                  f"-> seller {tokens(t['value_micro'] - t['fee_micro'])} payment tokens")
            print(f"            buyer {t['buyer_wallet']}, seller {t['seller_wallet']}")
            print(f"            buyer's price improvement {tokens(t['buyer_improvement_micro'])} "
                  f"(bid limit {per_kwh(terms.bid_micro)}, traded at the resting ask's price)")
            print("            settled on chain by the aggregator's matcher: "
                  f"settle_fills tx {t['tx_signature'][:20]}..., "
                  f"fill {t['fill_index']}, slot {t['slot']}")
        return trades[0] if len(trades) == 1 else None

    async def read_back(self, terms: Terms, before: Holdings, ask: str, bid: str,
                        trade: dict[str, Any] | None) -> list[str]:
        """Print the chain's balances next to the API's records; returns every disagreement."""
        problems: list[str] = []
        fee, improvement = terms.fee, terms.improvement
        delta = self.holdings().minus(before)

        def check(label: str, got: int, want: int, fmt: Callable[[int], str], note: str = "") -> None:
            ok = got == want
            print(f"   {label:<30}{fmt(got):>22}  expected {fmt(want)}{note}  {'ok' if ok else 'MISMATCH'}")
            if not ok:
                problems.append(f"{label}: chain says {fmt(got)}, expected {fmt(want)}")

        def wh(n: int) -> str:
            return f"{n:+,} Wh"

        def pay(n: int) -> str:
            return f"{'+' if n >= 0 else '-'}{tokens(abs(n))}"

        print("   on chain (token accounts and the market account, read from LiteSVM), change since before the ask:")
        check("consumer GRID", delta.consumer_grid, terms.energy_wh, wh)
        check("prosumer GRID", delta.prosumer_grid, -terms.energy_wh, wh)
        check("prosumer payment", delta.prosumer_payment, terms.value - fee, pay, " (value - fee)")
        check("fee account", delta.fee_account, fee, pay)
        check("consumer payment", delta.consumer_payment, -terms.value, pay,
              f" (escrowed {tokens(terms.bid_escrow)}, {tokens(improvement)} refunded)")
        check("market volume", delta.market_volume_wh, terms.energy_wh, wh)
        check("market fees collected", delta.market_fees, fee, pay)
        check("market GRID vault", delta.grid_vault, 0, wh, " (nothing left in escrow)")
        check("market payment vault", delta.payment_vault, 0, pay, " (nothing left in escrow)")
        still_open = [f"{name} {address}" for name, address in (("ask", ask), ("bid", bid))
                      if self.order_account_open(address)]
        problems += [f"order account still open on chain: {o}" for o in still_open]
        print(f"   {'order accounts':<30}{'still open' if still_open else 'closed':>22}  (both filled; the matcher "
              f"closed them: rent back to the owners)  {'MISMATCH' if still_open else 'ok'}")

        print("   the aggregator's records (/api/trades, /api/orders) against the chain:")
        if trade is None:
            problems.append(f"/api/trades lists {len(await self.trades())} trades for the market, expected exactly 1")
        else:
            want = {"buyer_wallet": str(self.consumer.pubkey()), "seller_wallet": str(self.prosumer.pubkey()),
                    "energy_wh": delta.consumer_grid, "price_per_kwh_micro": terms.ask_micro,
                    "value_micro": delta.prosumer_payment + delta.fee_account, "fee_micro": delta.fee_account,
                    "buyer_improvement_micro": improvement}
            wrong = {k: (trade[k], v) for k, v in want.items() if trade[k] != v}
            problems += [f"/api/trades {k} = {got}, the chain says {v}" for k, (got, v) in wrong.items()]
            print(f"   /api/trades   1 trade: {trade['energy_wh']:,} Wh = consumer's GRID received, value "
                  f"{tokens(trade['value_micro'])} = seller's proceeds + fee, fee {tokens(trade['fee_micro'])} = "
                  f"fee account  {'ok' if not wrong else 'MISMATCH'}")
        rows = {o["order_address"]: o for o in await self.orders()}
        for name, address, side, price, owner in (("ask", ask, "sell", terms.ask_micro, self.prosumer),
                                                  ("bid", bid, "buy", terms.bid_micro, self.consumer)):
            o = rows.get(address)
            if o is None:
                problems.append(f"/api/orders does not list the {name} {address}")
                continue
            got = (o["side"], o["owner_wallet"], o["price_per_kwh_micro"], o["energy_wh"], o["filled_wh"],
                   o["remaining_wh"], o["status"], o["closed_at"] is not None)
            want_row = (side, str(owner.pubkey()), price, terms.energy_wh, terms.energy_wh, 0, "filled",
                        not self.order_account_open(address))
            if got != want_row:
                problems.append(f"/api/orders {name} {address}: {got}, the chain says {want_row}")
            print(f"   /api/orders   {name} #{o['order_id']}: {o['side']}, filled {o['filled_wh']:,} of "
                  f"{o['energy_wh']:,} Wh, remaining {o['remaining_wh']:,}, status {o['status']}, "
                  f"{'closed' if o['closed_at'] else 'open'}  {'ok' if got == want_row else 'MISMATCH'}")
        return problems


async def open_floor(agg: Aggregator, prosumer: Keypair, consumer: Keypair) -> TradeFloor:
    """The desk's continuous market, as ``services_of(app).trading_desk`` holds it and ``/api/markets`` shows it."""
    desk: TradingDesk | None = services_of(agg.app).trading_desk
    if desk is None or not desk.markets:
        raise DemoError("the aggregator serves no trading market")
    ref = desk.markets[0]  # the continuous market; auction markets, if any, come after it
    try:
        market = await trading_client.fetch_market(agg.client, str(ref.address))
    except (LookupError, httpx.HTTPError) as exc:
        raise DemoError(f"GET /api/markets: {exc}") from exc
    if not market["matched_here"] or market["auction_slot_secs"]:
        raise DemoError(f"market {ref.address} is not a continuous market this aggregator matches")
    return TradeFloor(agg, desk, ref, market, prosumer, consumer)


async def until(predicate: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise DemoError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)
