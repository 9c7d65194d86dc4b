"""Transactions for a wallet to sign: orders, immediate-or-cancel takes, deposits and
withdrawals, certificate transfers and retirements.

Every builder returns an unsigned legacy transaction whose fee payer is the user's
wallet; the wallet signs it and sends it to the chain or through ``POST /api/transactions``.

**Immediate-or-cancel** (buy-now, sell-now) needs no program change: one transaction
places the taker's order, settles it against resting orders (the book's best, or one
chosen order) with ``settle_fills``, and closes it again in the same transaction
(``cancel_order`` when part is unfilled, ``expire_order`` when it filled completely), so
the unfilled rest of the escrow and the order's rent go straight back to the taker and
nothing rests on the book. ``settle_fills`` needs the market's matcher signature: the
service signs it as matcher (it holds that key for the markets it matches) before the
wallet signs, so the wallet receives a partly signed transaction. The taker's order is
the newest, so every fill trades at the resting (maker) order's price; a fill that no
longer fits when the transaction lands (another taker or the matcher was first) fails
the whole transaction and nothing moves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

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
from aggregator.chain.trading import ASK, BID, Fill, MarketRef, Trading, clock_unix_timestamp, value_of
from aggregator.errors import Conflict, NotFound, PayloadTooLarge
from common.wire import PACKET_BYTES

#: Resting orders one take may fill (each adds two or three accounts to the transaction).
MAX_TAKE_FILLS = 6
TAKE_COMPUTE_UNITS = 600_000


@dataclass(frozen=True)
class Prepared:
    """A transaction for the wallet to sign, and what it does in words."""

    transaction: Transaction
    message: str
    order_address: Pubkey | None = None
    planned_wh: int = 0  # takes: what the fills will trade
    fills: int = 0


def unsigned(payer: Pubkey, instructions: Sequence[Instruction], blockhash: Hash,
             cosigners: Sequence[Keypair] = ()) -> Transaction:
    """A legacy transaction paid by `payer`, signed by `cosigners` only (the wallet signs next)."""
    message = Message.new_with_blockhash(list(instructions), payer, blockhash)
    tx = Transaction.new_unsigned(message)
    if cosigners:
        tx.partial_sign(list(cosigners), blockhash)
    if len(bytes(tx)) > PACKET_BYTES:
        raise PayloadTooLarge("transaction_too_large",
                              f"{len(bytes(tx))} bytes; a transaction holds at most {PACKET_BYTES}")
    return tx


async def chain_time(backend: ChainBackend) -> int:
    clock = await backend.account(CLOCK)
    return clock_unix_timestamp(bytes(clock.data)) if clock is not None else int(time.time())


async def next_order_id(backend: ChainBackend, trading: Trading, market: MarketRef) -> int:
    account = await backend.account(market.address)
    if account is None:
        raise NotFound("unknown_market", f"market {market.address} has no account on chain")
    return int(trading.decode(bytes(account.data)).next_order_id)


async def place(backend: ChainBackend, trading: Trading, market: MarketRef, owner: Pubkey, *, side: int,
                price_per_kwh: int, size_wh: int, expires_at: int = 0, order_id: int | None = None) -> Prepared:
    """A limit order with `order_id` (by default the market's next order id now)."""
    if order_id is None:
        order_id = await next_order_id(backend, trading, market)
    ix = trading.place_order(owner, market, order_id, side=side, price_per_kwh=price_per_kwh, size_wh=size_wh,
                             expires_at=expires_at)
    escrow = (f"{size_wh} Wh of GRID" if side == ASK
              else f"{value_of(price_per_kwh, size_wh)} payment units")
    verb = "Sell" if side == ASK else "Buy"
    return Prepared(unsigned(owner, [ix], await backend.latest_blockhash()),
                    f"{verb} {size_wh} Wh at {price_per_kwh} per kWh (order #{order_id}); escrows {escrow}",
                    trading.order_address(market.address, order_id))


async def read_order(backend: ChainBackend, trading: Trading, order: Pubkey):  # noqa: ANN201 - the IDL's Order
    account = await backend.account(order)
    if account is None or trading.program.account_name(bytes(account.data)) != "Order":
        raise NotFound("unknown_order", f"{order} is not an open order on chain")
    return trading.decode(bytes(account.data))


async def cancel(backend: ChainBackend, trading: Trading, market: MarketRef, owner: Pubkey,
                 order: Pubkey) -> Prepared:
    o = await read_order(backend, trading, order)
    if o.market != market.address:
        raise Conflict("wrong_market", f"order {order} belongs to market {o.market}")
    if o.owner != owner:
        raise Conflict("not_order_owner", f"order {order} belongs to {o.owner}")
    ix = trading.cancel_order(owner, market, order, o.side)
    return Prepared(unsigned(owner, [ix], await backend.latest_blockhash()),
                    f"Cancel order #{o.order_id}: {o.remaining_wh} Wh unfilled; the escrow goes back to you", order)


async def move_funds(backend: ChainBackend, trading: Trading, market: MarketRef, owner: Pubkey, *, deposit: bool,
                     asset: str, amount: int) -> Prepared:
    side = ASK if asset == "grid" else BID
    ix = (trading.deposit if deposit else trading.withdraw)(owner, market, amount, side=side)
    unit = "Wh of GRID" if asset == "grid" else "payment units"
    verb = "Deposit" if deposit else "Withdraw"
    where = "into your balance in the market" if deposit else "from your balance in the market"
    return Prepared(unsigned(owner, [ix], await backend.latest_blockhash()), f"{verb} {amount} {unit} {where}")


@dataclass(frozen=True)
class Resting:
    """A resting order a take may fill, as the chain holds it now."""

    address: Pubkey
    order_id: int
    owner: Pubkey
    price_per_kwh: int
    remaining_wh: int


async def resting_orders(backend: ChainBackend, trading: Trading, market: MarketRef, addresses: Sequence[str],
                         *, side: int, now: int) -> list[Resting]:
    """The open orders of `side` among `addresses`, re-read from chain, live at `now`."""
    keys = [Pubkey.from_string(a) for a in addresses]
    accounts = await backend.accounts(keys) if keys else []
    out = []
    for key, account in zip(keys, accounts):
        if account is None or trading.program.account_name(bytes(account.data)) != "Order":
            continue
        o = trading.decode(bytes(account.data))
        if o.market != market.address or o.side != side or o.remaining_wh == 0:
            continue
        if o.expires_at and o.expires_at <= now:
            continue
        out.append(Resting(key, o.order_id, o.owner, o.price_per_kwh, o.remaining_wh))
    return out


async def take(backend: ChainBackend, trading: Trading, market: MarketRef, matcher: Keypair, owner: Pubkey, *,
               side: int, size_wh: int, limit_per_kwh: int | None, candidates: Sequence[str], lot_size_wh: int,
               chosen: Pubkey | None = None, order_id: int | None = None) -> Prepared:
    """Immediate-or-cancel: the taker's order of `side` filled against the best crossing
    resting orders among `candidates` (or only `chosen`), the rest returned at once."""
    now = await chain_time(backend)
    maker_side = ASK if side == BID else BID
    makers = await resting_orders(backend, trading, market, candidates if chosen is None else [str(chosen)],
                                  side=maker_side, now=now)
    if chosen is not None and not makers:
        raise Conflict("order_not_takeable", f"order {chosen} is not a live {'ask' if side == BID else 'bid'} "
                         "of this market")
    makers = [m for m in makers if m.owner != owner]
    if limit_per_kwh is not None:
        makers = [m for m in makers if (m.price_per_kwh <= limit_per_kwh if side == BID
                                        else m.price_per_kwh >= limit_per_kwh)]
    # Best price first, then the oldest order (price-time priority).
    makers.sort(key=lambda m: ((m.price_per_kwh if side == BID else -m.price_per_kwh), m.order_id))
    plan: list[tuple[Resting, int]] = []
    left = size_wh
    for m in makers:
        if left < lot_size_wh or len(plan) == MAX_TAKE_FILLS:
            break
        energy = min(left, m.remaining_wh) // lot_size_wh * lot_size_wh
        if energy:
            plan.append((m, energy))
            left -= energy
    if not plan:
        raise Conflict("nothing_to_take", "no resting order crosses the limit now",
                       side="buy" if side == BID else "sell", limit_per_kwh=limit_per_kwh)
    planned = size_wh - left
    # A bid escrows at its limit: the worst maker price planned (fills trade at the makers' prices).
    price = max(m.price_per_kwh for m, _ in plan) if side == BID else min(m.price_per_kwh for m, _ in plan)
    if order_id is None:
        order_id = await next_order_id(backend, trading, market)
    order = trading.order_address(market.address, order_id)
    own_dest_mint = trading.token.mint_address() if side == BID else market.payment_mint
    fills = [Fill(bid=order if side == BID else m.address, ask=m.address if side == BID else order,
                  buyer=owner if side == BID else m.owner, seller=m.owner if side == BID else owner, energy_wh=e)
             for m, e in plan]
    close = (trading.expire_order if planned == size_wh else trading.cancel_order)
    # The makers' proceeds go to their token accounts of that mint: one that does not
    # exist yet is created in the same transaction (the taker pays its rent).
    maker_mint = market.payment_mint if side == BID else trading.token.mint_address()
    owners = list(dict.fromkeys(m.owner for m, _ in plan))
    existing = await backend.accounts([get_associated_token_address(o, maker_mint) for o in owners])
    instructions = [
        set_compute_unit_limit(TAKE_COMPUTE_UNITS),
        create_idempotent_associated_token_account(owner, owner, own_dest_mint),
        *[create_idempotent_associated_token_account(owner, o, maker_mint) for o, acc in zip(owners, existing)
          if acc is None],
        trading.place_order(owner, market, order_id, side=side, price_per_kwh=price, size_wh=size_wh),
        trading.settle_fills(market, fills),
        close(owner, market, order, side),
    ]
    tx = unsigned(owner, instructions, await backend.latest_blockhash(), [matcher])
    verb = "Buy" if side == BID else "Sell"
    prices = ", ".join(f"{e} Wh at {m.price_per_kwh}" for m, e in plan)
    rest = f"; the unfilled {size_wh - planned} Wh is returned" if planned < size_wh else ""
    return Prepared(tx, f"{verb} now {planned} of {size_wh} Wh from {len(plan)} order(s): {prices} per kWh{rest}",
                    order, planned, len(plan))


async def certificate_action(backend: ChainBackend, certificates, owner: Pubkey, certificate: Pubkey, *,  # noqa: ANN001
                             retire: bool, new_owner: Pubkey | None = None) -> Prepared:
    """Transfer the certificate to `new_owner`, or retire it (claim its energy for good)."""
    account = await backend.account(certificate)
    if account is None or certificates.program.account_name(bytes(account.data)) != "Certificate":
        raise NotFound("unknown_certificate", f"{certificate} is not a certificate on chain")
    c = certificates.decode(bytes(account.data))
    if c.owner != owner:
        raise Conflict("not_certificate_owner", f"certificate {certificate} is held by {c.owner}")
    if retire:
        ix, text = certificates.retire(owner, certificate), f"Retire certificate {certificate} ({c.energy_wh} Wh)"
    else:
        assert new_owner is not None
        ix = certificates.transfer(owner, certificate, new_owner)
        text = f"Transfer certificate {certificate} ({c.energy_wh} Wh) to {new_owner}"
    return Prepared(unsigned(owner, [ix], await backend.latest_blockhash()), text)
