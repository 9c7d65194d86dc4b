"""Fuzzed trading instructions: random and mutated instruction data and account lists,
sent to the real program on one long-lived trading floor.

Every failure must be a typed error (a code from the IDL, or SPL Token's own error when a
transfer it was asked to make fails), never a panic or a runtime fault, and after every
transaction — failed or not — the escrow invariants hold: per mint the total supply on the
floor is constant, and each vault holds exactly what the open orders escrow plus what the
traders' balance accounts hold.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from spl.token.constants import TOKEN_PROGRAM_ID

from aggregator.chain.programs import SYSTEM_PROGRAM
from aggregator.chain.trading import ASK, BID, Fill
from tests.programs.trading_helpers import CHAIN_TIME, Floor

INSTRUCTIONS = ["initialize_market", "place_order", "cancel_order", "expire_order", "settle_fills",
                "refund_improvement", "deposit", "withdraw"]
DISCRIMINATORS = [hashlib.sha256(f"global:{n}".encode()).digest()[:8] for n in INSTRUCTIONS]
GRID_WH, PAYMENT = 50_000, 50_000_000


@pytest.fixture(scope="module")
def fuzz_floor() -> Floor:
    """A market with resting, partly filled and expiring orders of four traders, two of
    whom hold balance accounts."""
    f = Floor.create()
    f.open_market()
    t = f.add_traders(4, grid_wh=GRID_WH, payment=PAYMENT)
    f.deposit(t[0], ASK, 10_000)
    f.deposit(t[2], BID, 10_000_000)
    asks = [f.ask(t[0], 100_000, 5_000), f.ask(t[1], 90_000, 5_000, expires_at=CHAIN_TIME + 30)]
    bids = [f.bid(t[2], 120_000, 5_000), f.bid(t[3], 110_000, 5_000, expires_at=CHAIN_TIME + 30)]
    f.settle([Fill(bids[0], asks[0], t[2].pubkey, t[0].pubkey, 1_000)])
    return f


def valid_instructions(f: Floor) -> list[Instruction]:
    """Correct instructions against the floor's current state, for mutation."""
    t, m, tr = f.traders, f.market, f.trading
    orders = [tr.order_address(m.address, i) for i in range(4)]
    held = [f.balance_account(x) for x in t]
    return [
        tr.deposit(t[1].pubkey, m, 1_000, side=ASK),
        tr.withdraw(t[0].pubkey, m, 100, side=ASK),
        tr.withdraw(t[2].pubkey, m, 100, side=BID),
        tr.place_order(t[0].pubkey, m, f.next_order_id(), side=ASK, price_per_kwh=100_000, size_wh=100, source=held[0]),
        tr.place_order(t[2].pubkey, m, f.next_order_id(), side=BID, price_per_kwh=100_000, size_wh=100, source=held[2]),
        tr.cancel_order(t[0].pubkey, m, orders[0], ASK, held[0]),
        tr.settle_fills(m, [Fill(orders[2], orders[0], t[2].pubkey, t[0].pubkey, 10, held[2], held[0])]),
        tr.refund_improvement(m, [(orders[2], t[2].pubkey)], to_balance=True),
        tr.initialize_market(f.authority.pubkey(), f.payment_mint, f.fee_account, matcher=f.matcher.pubkey(),
                             fee_bps=10, lot_size_wh=1, tick_size=1_000, auction_slot_secs=60),
        tr.place_order(t[0].pubkey, m, f.next_order_id(), side=ASK, price_per_kwh=100_000, size_wh=100),
        tr.place_order(t[2].pubkey, m, f.next_order_id(), side=BID, price_per_kwh=100_000, size_wh=100),
        tr.cancel_order(t[0].pubkey, m, orders[0], ASK),
        tr.expire_order(t[1].pubkey, m, orders[1], ASK),
        tr.settle_fills(m, [Fill(orders[2], orders[0], t[2].pubkey, t[0].pubkey, 10),
                            Fill(orders[3], orders[1], t[3].pubkey, t[1].pubkey, 10)]),
        tr.refund_improvement(m, [(orders[2], t[2].pubkey), (orders[3], t[3].pubkey)]),
    ]


def account_pool(f: Floor) -> list:
    m = f.market
    orders = [f.trading.order_address(m.address, i) for i in range(6)]
    keys = [m.address, m.grid_vault, m.payment_vault, m.fee_account, f.payment_mint, f.trading.token.mint_address(),
            TOKEN_PROGRAM_ID, SYSTEM_PROGRAM, f.trading.program_id, Keypair().pubkey(), *orders]
    for trader in f.traders:
        keys += [trader.pubkey, trader.grid_account, trader.payment_account, f.balance_account(trader)]
    return keys


def signers_for(f: Floor) -> dict:
    return {k.pubkey(): k for k in [f.authority, f.matcher, *(t.wallet for t in f.traders)]}


@st.composite
def fuzzed(draw, f: Floor) -> Instruction:
    base = draw(st.sampled_from(valid_instructions(f)))
    data, metas = bytearray(base.data), list(base.accounts)
    pool = account_pool(f)
    signable = signers_for(f)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flags", "swap_account", "flip", "add_account", "drop_account", "extend",
                                     "truncate", "random_data", "discriminator"]))
        # Flips and cuts keep the discriminator mostly intact so the handlers get exercised;
        # "discriminator" and "random_data" cover the selector itself.
        if kind == "flip" and len(data) > 8:
            i = len(data) - 1 - draw(st.integers(0, len(data) - 9))
            data[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            data = data[:len(data) - draw(st.integers(0, len(data)))]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=40))
        elif kind == "random_data":
            data = bytearray(draw(st.sampled_from(DISCRIMINATORS)) + draw(st.binary(max_size=120)))
        elif kind == "discriminator":
            data[:8] = draw(st.binary(min_size=8, max_size=8))
        elif kind == "swap_account" and metas:
            i = draw(st.integers(0, len(metas) - 1))
            key = draw(st.sampled_from(pool))
            metas[i] = AccountMeta(key, metas[i].is_signer and key in signable, metas[i].is_writable)
        elif kind == "drop_account" and metas:
            del metas[draw(st.integers(0, len(metas) - 1))]
        elif kind == "add_account":
            key = draw(st.sampled_from(pool))
            metas.insert(draw(st.integers(0, len(metas))), AccountMeta(key, False, draw(st.booleans())))
        elif kind == "flags" and metas:
            i = draw(st.integers(0, len(metas) - 1))
            can_sign = metas[i].pubkey in signable
            metas[i] = AccountMeta(metas[i].pubkey, can_sign and draw(st.booleans()), draw(st.booleans()))
    return Instruction(base.program_id, bytes(data), metas)


def typed_failure(f: Floor, result) -> bool:
    if result.custom_code in f.trading.program.errors:
        return True
    # SPL Token refused a transfer the program asked for (e.g. insufficient funds).
    token_failed = any(line.startswith(f"Program {TOKEN_PROGRAM_ID} failed: custom program error")
                       for line in result.logs)
    return result.custom_code is not None and token_failed


def check_invariants(f: Floor) -> None:
    traders = len(f.traders)
    assert sum(f.grid_balances().values()) == traders * GRID_WH
    assert sum(f.payment_balances().values()) == traders * PAYMENT
    escrow = {ASK: 0, BID: 0}
    for order_id in range(f.next_order_id()):
        o = f.order(f.trading.order_address(f.market.address, order_id))
        if o is not None:
            escrow[o.side] += o.escrow_amount
            assert o.remaining_wh <= o.size_wh
    held = [f.held(t) for t in f.traders]
    assert f.balance(f.market.grid_vault) == escrow[ASK] + sum(h[0] for h in held)
    assert f.balance(f.market.payment_vault) == escrow[BID] + sum(h[1] for h in held)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_instructions_fail_with_typed_errors_and_keep_escrow_whole(fuzz_floor, data):
    f = fuzz_floor
    ix = data.draw(fuzzed(f))
    signable = signers_for(f)
    signers = [f.matcher] + [signable[m.pubkey] for m in ix.accounts if m.is_signer and m.pubkey != f.matcher.pubkey()]
    result = f.chain.send([ix], signers, check=False)
    assert not any("panicked" in line for line in result.logs), result.logs
    if not result.ok:
        assert typed_failure(f, result), (result.error, result.logs[-5:])
    check_invariants(f)
