"""trading: cancel_order and expire_order in LiteSVM, every success and failure path."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.keypair import Keypair

from aggregator.chain.trading import ASK, BID, Fill, value_of
from tests.programs.trading_helpers import CHAIN_TIME, expect_error, replace_account
from tests.programs.trading_helpers import floor  # noqa: F401  (fixture)


def test_cancel_ask_returns_grid_and_rent_and_closes_the_order(floor):
    seller = floor.traders[0]
    grid_before, lamports_before = floor.balance(seller.grid_account), floor.chain.balance(seller.pubkey)
    order = floor.ask(seller, 100_000, 4_000)
    rent = floor.chain.balance(order)
    result = floor.chain.send([floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK)], [seller.wallet])
    assert floor.chain.account(order) is None
    assert floor.balance(seller.grid_account) == grid_before
    assert floor.balance(floor.market.grid_vault) == 0
    # Only transaction fees are lost: the order's rent came back.
    assert lamports_before - floor.chain.balance(seller.pubkey) == 2 * 5_000 and rent > 0
    (event,) = floor.trading.program.decode_events(result.logs)
    assert event.name == "OrderCancelled"
    assert (event.data.order_id, event.data.remaining_wh, event.data.refunded) == (0, 4_000, 4_000)


def test_cancel_partly_filled_bid_refunds_the_rest_and_the_price_improvement(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask = floor.ask(seller, 100_000, 1_000)
    bid = floor.bid(buyer, 130_000, 3_000)  # taker: trades at the ask's 100,000 per kWh
    floor.settle([Fill(bid, ask, buyer.pubkey, seller.pubkey, 1_000)])
    before = floor.balance(buyer.payment_account)
    assert floor.order(bid).escrow_amount == value_of(130_000, 3_000) - value_of(100_000, 1_000)
    result = floor.chain.send([floor.trading.cancel_order(buyer.pubkey, floor.market, bid, BID)], [buyer.wallet])
    refunded = value_of(130_000, 2_000) + value_of(130_000 - 100_000, 1_000)
    assert floor.balance(buyer.payment_account) == before + refunded
    assert floor.balance(floor.market.payment_vault) == 0
    (event,) = floor.trading.program.decode_events(result.logs)
    assert (event.data.remaining_wh, event.data.refunded) == (2_000, refunded)


def test_cancel_requires_the_owner_signature(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    ix = replace_account(floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK), 0, signer=False)
    expect_error(floor.chain.send([ix], [floor.traders[1].wallet], check=False), 6003, "MissingSignature")


def test_nobody_else_may_cancel(floor):
    seller, other = floor.traders[0], floor.traders[1]
    order = floor.ask(seller, 100_000, 1_000)
    ix = floor.trading.cancel_order(other.pubkey, floor.market, order, ASK)
    expect_error(floor.chain.send([ix], [other.wallet], check=False), 6110, "NotOrderOwner")


def test_cancel_twice_finds_no_order(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    ix = floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK)
    floor.chain.send([ix], [seller.wallet])
    expect_error(floor.chain.send([ix], [seller.wallet], check=False), 6112, "InvalidOrder")


def test_cancel_refunds_only_to_the_owner_s_account_of_the_escrowed_mint(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    for wrong in (floor.traders[1].grid_account, seller.payment_account):
        ix = floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK, destination=wrong)
        expect_error(floor.chain.send([ix], [seller.wallet], check=False), 6107, "InvalidTokenAccount")


def test_cancel_rejects_the_other_vault(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    ix = replace_account(floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK), 4,
                         floor.market.payment_vault)
    expect_error(floor.chain.send([ix], [seller.wallet], check=False), 6108, "InvalidVault")


def test_cancel_rejects_an_order_of_another_market(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    continuous = floor.market
    auction = floor.open_market(auction_slot_secs=900)
    ix = floor.trading.cancel_order(seller.pubkey, auction, order, ASK)
    expect_error(floor.chain.send([ix], [seller.wallet], check=False), 6109, "WrongMarket")
    floor.chain.send([floor.trading.cancel_order(seller.pubkey, continuous, order, ASK)], [seller.wallet])


def test_cancel_rejects_a_writable_order_marked_read_only(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    ix = replace_account(floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK), 2, writable=False)
    expect_error(floor.chain.send([ix], [seller.wallet], check=False), 6004, "AccountNotWritable")


def test_cancel_rejects_a_fake_token_program(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    ix = replace_account(floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK), 5, Keypair().pubkey())
    expect_error(floor.chain.send([ix], [seller.wallet], check=False), 6102, "InvalidTokenProgram")


# --- expire_order --------------------------------------------------------------------------

def test_anyone_may_expire_an_order_after_its_expiry(floor):
    buyer, cranker = floor.traders[2], floor.chain.new_funded_keypair()
    before = floor.balance(buyer.payment_account)
    order = floor.bid(buyer, 100_000, 1_000, expires_at=CHAIN_TIME + 60)
    ix = floor.trading.expire_order(buyer.pubkey, floor.market, order, BID)
    expect_error(floor.chain.send([ix], [cranker], check=False), 6111, "OrderStillLive")
    floor.chain.set_time(CHAIN_TIME + 60)
    result = floor.chain.send([ix], [cranker])
    assert floor.chain.account(order) is None
    assert floor.balance(buyer.payment_account) == before
    (event,) = floor.trading.program.decode_events(result.logs)
    assert (event.name, event.data.refunded, event.data.remaining_wh) == ("OrderExpired", 100_000, 1_000)


def test_orders_without_expiry_never_expire(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    floor.chain.set_time(CHAIN_TIME + 10 * 365 * 86_400)
    ix = floor.trading.expire_order(seller.pubkey, floor.market, order, ASK)
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6111, "OrderStillLive")


def test_a_filled_order_is_closed_by_anyone_with_its_price_improvement(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask = floor.ask(seller, 100_000, 1_000)
    bid = floor.bid(buyer, 110_000, 1_000)
    floor.settle([Fill(bid, ask, buyer.pubkey, seller.pubkey, 1_000)])
    before = floor.balance(buyer.payment_account)
    result = floor.chain.send([floor.trading.expire_order(buyer.pubkey, floor.market, bid, BID),
                               floor.trading.expire_order(seller.pubkey, floor.market, ask, ASK)], [floor.matcher])
    assert floor.balance(buyer.payment_account) == before + value_of(10_000, 1_000)
    assert floor.chain.account(bid) is None and floor.chain.account(ask) is None
    events = floor.trading.program.decode_events(result.logs)
    assert [(e.name, e.data.refunded) for e in events] == [("OrderClosed", 10_000), ("OrderClosed", 0)]
    assert floor.balance(floor.market.payment_vault) == 0 and floor.balance(floor.market.grid_vault) == 0


def test_expire_pays_only_the_order_s_owner(floor):
    seller, other = floor.traders[0], floor.traders[1]
    order = floor.ask(seller, 100_000, 1_000, expires_at=CHAIN_TIME + 1)
    floor.chain.set_time(CHAIN_TIME + 5)
    ix = floor.trading.expire_order(other.pubkey, floor.market, order, ASK)
    expect_error(floor.chain.send([ix], [other.wallet], check=False), 6110, "NotOrderOwner")
    ix = floor.trading.expire_order(seller.pubkey, floor.market, order, ASK, destination=other.grid_account)
    expect_error(floor.chain.send([ix], [other.wallet], check=False), 6107, "InvalidTokenAccount")


def test_expire_needs_a_writable_owner_to_return_rent_to(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000, expires_at=CHAIN_TIME + 1)
    floor.chain.set_time(CHAIN_TIME + 5)
    ix = replace_account(floor.trading.expire_order(seller.pubkey, floor.market, order, ASK), 2, writable=False)
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6004, "AccountNotWritable")


def test_expire_of_a_closed_order_finds_nothing(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    floor.chain.send([floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK)], [seller.wallet])
    ix = floor.trading.expire_order(seller.pubkey, floor.market, order, ASK)
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6112, "InvalidOrder")


def test_expire_rejects_a_market_that_is_not_a_market(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000, expires_at=CHAIN_TIME + 1)
    floor.chain.set_time(CHAIN_TIME + 5)
    ix = replace_account(floor.trading.expire_order(seller.pubkey, floor.market, order, ASK), 0, order)
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6008, "InvalidAccountData")


def test_cancel_and_expire_take_no_instruction_arguments(floor):
    seller = floor.traders[0]
    order = floor.ask(seller, 100_000, 1_000)
    ix = floor.trading.cancel_order(seller.pubkey, floor.market, order, ASK)
    longer = Instruction(ix.program_id, bytes(ix.data) + b"\0", ix.accounts)
    expect_error(floor.chain.send([longer], [seller.wallet], check=False), 6001, "InvalidInstructionData")
    shorter = Instruction(ix.program_id, bytes(ix.data), ix.accounts[:5])
    expect_error(floor.chain.send([shorter], [seller.wallet], check=False), 6002, "NotEnoughAccounts")



# --- refund_improvement ----------------------------------------------------------------------

def partly_filled_taker_bid(f):
    """A bid at 130,000 that bought 1,000 Wh at the resting ask's 100,000 and has 2,000 Wh left."""
    seller, buyer = f.traders[0], f.traders[2]
    ask = f.ask(seller, 100_000, 1_000)
    bid = f.bid(buyer, 130_000, 3_000)
    f.settle([Fill(bid, ask, buyer.pubkey, seller.pubkey, 1_000)])
    return bid, ask, buyer


def test_refund_improvement_pays_the_surplus_and_keeps_the_bid_live(floor):
    bid, _, buyer = partly_filled_taker_bid(floor)
    before = floor.balance(buyer.payment_account)
    cranker = floor.chain.new_funded_keypair()
    result = floor.chain.send([floor.trading.refund_improvement(floor.market, [(bid, buyer.pubkey)])], [cranker])
    surplus = value_of(30_000, 1_000)
    assert floor.balance(buyer.payment_account) == before + surplus
    o = floor.order(bid)
    assert (o.remaining_wh, o.escrow_amount) == (2_000, value_of(130_000, 2_000))
    (event,) = floor.trading.program.decode_events(result.logs)
    assert (event.name, event.data.order_id, event.data.refunded) == ("ImprovementRefunded", 1, surplus)
    # Nothing left to refund: a repeat is a no-op, and the bid still trades its remainder.
    again = floor.chain.send([floor.trading.refund_improvement(floor.market, [(bid, buyer.pubkey)])], [cranker])
    assert floor.trading.program.decode_events(again.logs) == []
    ask = floor.ask(floor.traders[1], 130_000, 2_000)
    floor.settle([Fill(bid, ask, buyer.pubkey, floor.traders[1].pubkey, 2_000)])
    assert floor.order(bid).escrow_amount == 0


def test_refund_improvement_checks_every_pair(floor):
    bid, ask, buyer = partly_filled_taker_bid(floor)
    seller = floor.traders[0]
    tr, m = floor.trading, floor.market
    cases = [
        (tr.refund_improvement(m, [(ask, seller.pubkey)]), 6118, "WrongSide"),
        (tr.refund_improvement(m, [(bid, seller.pubkey)]), 6107, "InvalidTokenAccount"),
        (tr.refund_improvement(m, [(m.address, buyer.pubkey)]), 6112, "InvalidOrder"),
        (replace_account(tr.refund_improvement(m, [(bid, buyer.pubkey)]), 1, m.grid_vault), 6108, "InvalidVault"),
        (replace_account(tr.refund_improvement(m, [(bid, buyer.pubkey)]), 2, Keypair().pubkey()), 6102,
         "InvalidTokenProgram"),
        (replace_account(tr.refund_improvement(m, [(bid, buyer.pubkey)]), 3, writable=False), 6004,
         "AccountNotWritable"),
        (tr.refund_improvement(m, []), 6128, "TooManyRefunds"),
        (tr.refund_improvement(m, [(bid, buyer.pubkey)] * 49), 6128, "TooManyRefunds"),
    ]
    for ix, code, name in cases:
        expect_error(floor.chain.send([ix], [floor.matcher], check=False), code, name)
    odd = tr.refund_improvement(m, [(bid, buyer.pubkey)])
    odd = Instruction(odd.program_id, odd.data, odd.accounts[:-1])
    expect_error(floor.chain.send([odd], [floor.matcher], check=False), 6128, "TooManyRefunds")


def test_refund_improvement_refuses_bids_of_another_market(floor):
    bid, _, buyer = partly_filled_taker_bid(floor)
    continuous = floor.market
    auction = floor.open_market(auction_slot_secs=900)
    ix = floor.trading.refund_improvement(auction, [(bid, buyer.pubkey)])
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6109, "WrongMarket")
    floor.chain.send([floor.trading.refund_improvement(continuous, [(bid, buyer.pubkey)])], [floor.matcher])
