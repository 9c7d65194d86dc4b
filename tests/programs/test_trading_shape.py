"""Every trading instruction refuses malformed calls with the shared typed errors:
unknown selectors, data of the wrong length, missing accounts."""

from __future__ import annotations

import pytest
from solders.instruction import Instruction

from aggregator.chain.trading import ASK, Fill
from tests.programs.trading_helpers import Floor, expect_error
from tests.programs.trading_helpers import floor  # noqa: F401  (fixture)

FIXED_DATA = ["initialize_market", "place_order", "cancel_order", "expire_order", "refund_improvement"]


def valid(f: Floor) -> dict[str, Instruction]:
    t, m, tr = f.traders, f.market, f.trading
    ask = f.ask(t[0], 100_000, 1_000)
    bid = f.bid(t[2], 100_000, 1_000)
    return {
        "initialize_market": tr.initialize_market(f.authority.pubkey(), f.payment_mint, f.fee_account,
                                                  matcher=f.matcher.pubkey(), fee_bps=0, lot_size_wh=1,
                                                  tick_size=1_000, auction_slot_secs=60),
        "place_order": tr.place_order(t[0].pubkey, m, f.next_order_id(), side=ASK, price_per_kwh=100_000, size_wh=10),
        "cancel_order": tr.cancel_order(t[0].pubkey, m, ask, ASK),
        "expire_order": tr.expire_order(t[0].pubkey, m, ask, ASK),
        "settle_fills": tr.settle_fills(m, [Fill(bid, ask, t[2].pubkey, t[0].pubkey, 10)]),
        "refund_improvement": tr.refund_improvement(m, [(bid, t[2].pubkey)]),
    }


def send(f: Floor, ix: Instruction):
    signers = {f.matcher.pubkey(): f.matcher, f.authority.pubkey(): f.authority,
               **{t.pubkey: t.wallet for t in f.traders}}
    return f.chain.send([ix], [f.matcher] + [signers[m.pubkey] for m in ix.accounts if m.is_signer], check=False)


@pytest.mark.parametrize("data", [b"", b"\x01" * 7, b"\x00" * 8, bytes(range(8)) + b"\x00" * 40])
def test_unknown_selectors_are_refused(floor, data):
    ix = valid(floor)["cancel_order"]
    expect_error(send(floor, Instruction(ix.program_id, data, ix.accounts)), 6000, "UnknownInstruction")


@pytest.mark.parametrize("name", FIXED_DATA)
def test_data_of_the_wrong_length_is_refused(floor, name):
    ix = valid(floor)[name]
    for data in (bytes(ix.data)[:-1] if len(ix.data) > 8 else None, bytes(ix.data) + b"\x00"):
        if data is not None:
            expect_error(send(floor, Instruction(ix.program_id, data, ix.accounts)), 6001, "InvalidInstructionData")


@pytest.mark.parametrize("name", [*FIXED_DATA, "settle_fills"])
def test_missing_accounts_are_refused(floor, name):
    ix = valid(floor)[name]
    fixed = {"initialize_market": 9, "place_order": 7, "cancel_order": 6, "expire_order": 6, "settle_fills": 6,
             "refund_improvement": 3}[name]
    short = Instruction(ix.program_id, ix.data, ix.accounts[:fixed - 1])
    code, error = (6121, "InvalidBatch") if name == "settle_fills" else (6002, "NotEnoughAccounts")
    expect_error(send(floor, short), code, error)
