"""The matcher: continuous matching and uniform-price auctions for the markets whose
matcher key the aggregator holds.

Each cycle starts from the chain, never from memory: the candidate orders are the open
orders the indexer stored, and every one is re-read from its account (a closed account is
gone, a remaining size is what the chain says). In a continuous market :func:`plan_fills`
picks the fills at the makers' prices; in an auction market, once a slot is over on the
chain's clock, :mod:`aggregator.trading.auction` computes the slot's one clearing price
and the fills at it. They go out as ``settle_fills`` batches that fit one legacy
transaction. Because the program checks every fill against the orders' remaining sizes, limits, expiry and owners,
the matcher can never trade beyond what the chain allows, and after a crash or restart a
fill that already landed is simply not planned again (its sizes are gone from the chain).

A refused batch is retried fill by fill, so one bad pair never holds the rest up; a pair
refused on its own is not proposed again until either order changes on chain. After a
batch, filled orders are closed (their rent and any price improvement go back to the
owners) and partly filled bids get their price improvement refunded: both are
permissionless cranks the matcher pays for.

Expiry is a crank too: every pass sends ``expire_order`` for the orders whose
``expires_at`` has passed on the chain's clock, so their escrow (and rent) goes back to
the owner; the indexer then closes the order as ``expired`` from the chain's
``OrderExpired`` event. Expired orders are never planned (the program would refuse them
anyway).

Woken by every indexed ``OrderPlaced`` of its markets (through the event hub), by a
sweep every ``sweep_s``, and at the next expiry the book holds (chain time), whichever
comes first; an auction market also wakes it when its current slot ends.

Auctions: the newest slot that is over is settled, with every order placed before it
ended (orders left from earlier slots included). Its price is computed once: if the
market already records a clearing price for that slot (a pass, or a process, stopped
part-way through its batches), the rest is settled at that price, as the program
requires. Settling a slot closes the earlier ones, so a slot missed while the matcher was
down is folded into the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.sysvar import CLOCK
from solders.transaction import Transaction
from spl.token.instructions import create_idempotent_associated_token_account, get_associated_token_address

from aggregator.chain.backend import ChainBackend
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.trading import BID, MAX_FILLS, Fill, MarketRef, Trading, clock_unix_timestamp, value_of
from aggregator.chain.transactions import TxResult
from aggregator.errors import RETRYABLE
from aggregator.events.hub import EventHub
from aggregator.trading import auction
from aggregator.trading import repository as repo
from aggregator.trading.matching import BookOrder, PlannedFill, plan_fills
from common.wire import PACKET_BYTES

log = logging.getLogger("aggregator.matcher")

COMPUTE_UNITS = 1_400_000  # the most a transaction may ask for; big batches need more than 200k
MAX_CRANKS_PER_TX = 6  # closes / refunds per transaction (each names four or five accounts)
REFUNDS_PER_IX = 8  # (bid, payment account) pairs per refund_improvement


@dataclass(frozen=True)
class CycleReport:
    fills: int
    energy_wh: int
    refused: int
    expired: int = 0  # expire_order instructions that landed

    def __add__(self, other: CycleReport) -> CycleReport:
        return CycleReport(self.fills + other.fills, self.energy_wh + other.energy_wh,
                           self.refused + other.refused, self.expired + other.expired)


class Matcher:
    def __init__(self, pool: asyncpg.Pool, backend: ChainBackend, trading: Trading, markets: Sequence[MarketRef],
                 matcher: Keypair, *, hub: EventHub | None = None, sweep_s: float = 30.0,
                 retry_s: float = 5.0, max_fills_per_tx: int = MAX_FILLS) -> None:
        self.pool = pool
        self.backend = backend
        self.trading = trading
        self.markets = {str(m.address): m for m in markets}
        self.key = matcher
        self.hub = hub
        self.sweep_s = sweep_s
        self.retry_s = retry_s
        self.max_fills_per_tx = max_fills_per_tx
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # (bid, ask) -> (bid remaining, ask remaining) when the chain refused that fill alone.
        self._refused: dict[tuple[Pubkey, Pubkey], tuple[int, int]] = {}
        self._grid_mint = trading.token.mint_address()
        self._known_accounts: set[Pubkey] = set()
        # Chain time of the last pass and of the next moment a pass has work (an expiry).
        self._chain_now: int | None = None
        self._next_due: int | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Match on every wake-up and sweep until cancelled; failures are logged and retried."""
        listener = asyncio.create_task(self._listen(), name="gtx-matcher-listen") if self.hub else None
        try:
            while True:
                try:
                    await self.run_once()
                except RETRYABLE as exc:
                    log.warning("matching cycle failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
                    await asyncio.sleep(self.retry_s)
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self._wait_s())
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            if listener is not None:
                listener.cancel()

    def _wait_s(self) -> float:
        """Until the next sweep, or the next expiry if sooner (chain seconds as wall seconds,
        as on a cluster; at least one second, so a clock that stands still never spins)."""
        if self._next_due is None or self._chain_now is None:
            return self.sweep_s
        return min(self.sweep_s, max(1.0, float(self._next_due - self._chain_now)))

    async def _listen(self) -> None:
        assert self.hub is not None
        sub = self.hub.subscribe()
        try:
            while True:
                event = await sub.get()
                if (event.get("type") == "chain_event" and event.get("name") == "OrderPlaced"
                        and event["data"].get("market") in self.markets):
                    self.wake()
        finally:
            sub.close()

    async def run_once(self) -> CycleReport:
        """One matching pass over every market; returns what was settled."""
        async with self._lock:
            now = clock_unix_timestamp(await _account_data(self.backend, CLOCK))
            self._chain_now, self._next_due = now, None
            totals = CycleReport(0, 0, 0)
            for market in self.markets.values():
                totals += await self._match_market(market, now)
            return totals

    # --- one market -----------------------------------------------------------------------
    async def _match_market(self, market: MarketRef, now: int) -> CycleReport:
        state = self.trading.decode(await _account_data(self.backend, market.address))
        book = await self._book(market)
        expired = await self._expire(market, [o for o in book if o.remaining_wh > 0 and not o.live(now)])
        self._due(o.expires_at for o in book if o.live(now) and o.expires_at)
        if state.auction_slot_secs:
            report = await self._clear_auction(market, state, book, now)
        else:
            report = await self.settle(market, plan_fills(book, now=now, lot_size_wh=state.lot_size_wh,
                                                          skip=self._still_refused))
        return report + CycleReport(0, 0, 0, expired)

    async def _clear_auction(self, market: MarketRef, state: Any, book: list[BookOrder], now: int) -> CycleReport:
        """Settle the newest slot that is over at one clearing price."""
        secs = state.auction_slot_secs
        self._due([auction.slot_end(now // secs, secs)])
        slot = auction.last_ended_slot(now, secs)
        already_cleared = state.clearing_price != 0  # the market records the newest cleared slot's price
        if slot is None or (already_cleared and state.cleared_slot > slot):
            return CycleReport(0, 0, 0)
        orders = auction.eligible(book, slot=slot, auction_slot_secs=secs, now=now, lot_size_wh=state.lot_size_wh)
        if already_cleared and state.cleared_slot == slot:
            price = state.clearing_price
        else:
            clearing = auction.clearing_price(orders, state.tick_size)
            if clearing is None:
                return CycleReport(0, 0, 0)
            price = clearing.price_per_kwh
        fills = auction.plan_auction(orders, price, now=now, lot_size_wh=state.lot_size_wh, skip=self._still_refused)
        if fills:
            log.info("auction cleared", extra={"fields": {"market": str(market.address), "slot": slot,
                                                          "clearing_price_per_kwh": price}})
        return await self.settle(market, fills, auction_slot=slot, clearing_price=price)

    def _due(self, times: Iterable[int]) -> None:
        """Note chain times at which a pass will have work to do."""
        for t in times:
            self._next_due = t if self._next_due is None else min(self._next_due, t)

    async def settle(self, market: MarketRef, fills: list[PlannedFill], *, auction_slot: int = 0,
                     clearing_price: int = 0) -> CycleReport:
        """Send planned fills in batches; a refused batch is retried fill by fill (the
        chain may have changed since the plan: the program is the judge). Auction fills
        name their slot and its clearing price; continuous ones leave both 0."""
        settled, energy, refused = 0, 0, 0
        touched: dict[Pubkey, BookOrder] = {}
        missing = await self._missing_accounts(market, fills)
        pricing = (auction_slot, clearing_price)
        for batch in self._batches(market, fills, missing, pricing):
            batch_ok = await self._settle(market, batch, missing, pricing)
            if not batch_ok and len(batch) > 1:
                ok = [await self._settle(market, [f], missing, pricing) for f in batch]
            else:
                ok = [batch_ok] * len(batch)
            for f, done in zip(batch, ok):
                if done:
                    settled, energy = settled + 1, energy + f.energy_wh
                    touched[f.bid.address], touched[f.ask.address] = f.bid, f.ask
                else:
                    refused += 1
                    self._refused[(f.bid.address, f.ask.address)] = (f.bid.remaining_wh, f.ask.remaining_wh)
        if touched:
            await self._crank(market, list(touched.values()))
        if settled:
            log.info("fills settled", extra={"fields": {"market": str(market.address), "fills": settled,
                                                        "energy_wh": energy}})
        return CycleReport(settled, energy, refused)

    def _still_refused(self, bid: BookOrder, ask: BookOrder) -> bool:
        return self._refused.get((bid.address, ask.address)) == (bid.remaining_wh, ask.remaining_wh)

    async def _book(self, market: MarketRef) -> list[BookOrder]:
        """The indexed open orders of `market`, each as its account says now (closed ones drop out)."""
        async with self.pool.acquire() as conn:
            addresses = [Pubkey.from_string(a) for a in await repo.open_order_addresses(conn, str(market.address))]
        accounts = await self.backend.accounts(addresses)
        book = []
        for address, account in zip(addresses, accounts):
            if account is None:
                continue
            o = self.trading.decode(bytes(account.data))
            book.append(BookOrder(address, o.order_id, o.owner, o.side, o.price_per_kwh, o.remaining_wh, o.expires_at,
                                  o.placed_at))
        return book

    def _fill(self, f: PlannedFill) -> Fill:
        return Fill(f.bid.address, f.ask.address, f.bid.owner, f.ask.owner, f.energy_wh)

    def _batches(self, market: MarketRef, fills: list[PlannedFill], missing: set[Pubkey],
                 pricing: tuple[int, int]) -> list[list[PlannedFill]]:
        """Consecutive fills grouped so each group's transaction fits one packet."""
        batches: list[list[PlannedFill]] = []
        current: list[PlannedFill] = []
        for f in fills:
            trial = current + [f]
            if current and (len(trial) > self.max_fills_per_tx
                            or self._size(self._settle_ixs(market, trial, missing, pricing)) > PACKET_BYTES):
                batches.append(current)
                trial = [f]
            current = trial
        if current:
            batches.append(current)
        return batches

    def _settle_ixs(self, market: MarketRef, batch: list[PlannedFill], missing: set[Pubkey],
                    pricing: tuple[int, int]) -> list[Instruction]:
        ixs = [set_compute_unit_limit(COMPUTE_UNITS)]
        for f in batch:
            # Proceeds go to the owners' associated accounts; create the ones that do not exist yet.
            for owner, mint in ((f.bid.owner, self._grid_mint), (f.ask.owner, market.payment_mint)):
                if get_associated_token_address(owner, mint) in missing:
                    ixs.append(create_idempotent_associated_token_account(self.key.pubkey(), owner, mint))
        auction_slot, price = pricing
        return ixs + [self.trading.settle_fills(market, [self._fill(f) for f in batch], auction_slot=auction_slot,
                                                clearing_price=price)]

    def _size(self, ixs: list[Instruction]) -> int:
        message = Message.new_with_blockhash(ixs, self.key.pubkey(), Hash.default())
        return len(bytes(Transaction.new_unsigned(message)))

    async def _missing_accounts(self, market: MarketRef, batch: list[PlannedFill]) -> set[Pubkey]:
        """Destination token accounts of these fills that do not exist yet."""
        wanted = list(dict.fromkeys(
            [get_associated_token_address(f.bid.owner, self._grid_mint) for f in batch]
            + [get_associated_token_address(f.ask.owner, market.payment_mint) for f in batch]))
        unknown = [a for a in wanted if a not in self._known_accounts]
        found = await self.backend.accounts(unknown)
        self._known_accounts.update(a for a, acc in zip(unknown, found) if acc is not None)
        return {a for a, acc in zip(unknown, found) if acc is None}

    async def _settle(self, market: MarketRef, batch: list[PlannedFill], missing: set[Pubkey],
                      pricing: tuple[int, int]) -> bool:
        result = await self.backend.send(self._settle_ixs(market, batch, missing, pricing), [self.key], check=False)
        await self._record(market, batch, result)
        if result.ok:
            created = {a for f in batch for a in (get_associated_token_address(f.bid.owner, self._grid_mint),
                                                  get_associated_token_address(f.ask.owner, market.payment_mint))}
            missing -= created
            self._known_accounts |= created
        return result.ok

    async def _record(self, market: MarketRef, batch: list[PlannedFill], result: TxResult) -> None:
        error = None if result.ok else (result.error_name or result.error)
        if not result.ok:
            log.warning("settle_fills refused", extra={"fields": {"market": str(market.address), "fills": len(batch),
                                                                   "error": error}})
        async with self.pool.acquire() as conn:
            await repo.record_batch(conn, str(market.address), len(batch), sum(f.energy_wh for f in batch),
                                    result.ok, result.signature, error)

    async def _expire(self, market: MarketRef, orders: list[BookOrder]) -> int:
        """Send expire_order for orders past their expiry: escrow and rent back to the owner
        (to the associated account their escrow came from). Returns how many landed; a
        refusal is logged and tried again on the next pass."""
        ixs = [self.trading.expire_order(o.owner, market, o.address, o.side) for o in orders]
        landed = await self._send_cranks(ixs, "expiring orders failed")
        if landed:
            log.info("orders expired", extra={"fields": {"market": str(market.address), "orders": landed}})
        return landed

    async def _send_cranks(self, ixs: list[Instruction], failure: str) -> int:
        """Send permissionless instructions, a few per transaction; how many landed."""
        landed = 0
        for start in range(0, len(ixs), MAX_CRANKS_PER_TX):
            chunk = ixs[start:start + MAX_CRANKS_PER_TX]
            result = await self.backend.send(chunk, [self.key], check=False)
            if result.ok:
                landed += len(chunk)
            elif len(chunk) > 1:  # one refused instruction must not hold up the others: each alone
                for ix in chunk:
                    landed += await self._send_cranks([ix], failure)
            else:
                log.warning(failure, extra={"fields": {"error": result.error_name or result.error}})
        return landed

    async def _crank(self, market: MarketRef, orders: list[BookOrder]) -> None:
        """Close filled orders and refund partly filled bids' price improvement.

        Best effort: anyone may send these later, so a failure is only logged."""
        accounts = await self.backend.accounts([o.address for o in orders])
        closes, refunds = [], []
        for o, account in zip(orders, accounts):
            if account is None:
                continue
            now = self.trading.decode(bytes(account.data))
            if now.remaining_wh == 0:
                closes.append(self.trading.expire_order(now.owner, market, o.address, now.side))
            elif now.side == BID and now.escrow_amount > value_of(now.price_per_kwh, now.remaining_wh):
                refunds.append((o.address, now.owner))
        ixs = closes + [self.trading.refund_improvement(market, refunds[i:i + REFUNDS_PER_IX])
                        for i in range(0, len(refunds), REFUNDS_PER_IX)]
        await self._send_cranks(ixs, "closing filled orders failed")


async def _account_data(backend: ChainBackend, address: Pubkey) -> bytes:
    account = await backend.account(address)
    if account is None:
        raise ChainSetupError(f"account {address} does not exist on this chain")
    return bytes(account.data)
