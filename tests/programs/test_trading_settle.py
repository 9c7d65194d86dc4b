"""trading: settle_fills in LiteSVM — continuous (maker's price) and uniform-price auction
markets, partial fills, fees, netting, and every failure path with its exact code."""

from __future__ import annotations

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair

from aggregator.chain.trading import ASK, BID, Fill, fee_of, value_of
from tests.programs.trading_helpers import CHAIN_TIME, FEE_BPS, Floor, expect_error, replace_account
from tests.programs.trading_helpers import floor  # noqa: F401  (fixture)

SLOT_SECS = 900
SLOT = CHAIN_TIME // SLOT_SECS  # the auction slot orders placed at CHAIN_TIME belong to
SLOT_END = (SLOT + 1) * SLOT_SECS


@pytest.fixture
def auction() -> Floor:
    f = Floor.create()
    f.open_market(auction_slot_secs=SLOT_SECS)
    f.add_traders(4, grid_wh=10_000, payment=1_000_000)
    return f


def fill(f: Floor, bid, ask, buyer, seller, size) -> Fill:
    return Fill(bid, ask, buyer.pubkey, seller.pubkey, size)


# --- continuous market: successes -------------------------------------------------------

def test_taker_bid_trades_at_the_resting_ask_s_price(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask = floor.ask(seller, 100_000, 3_000)
    bid = floor.bid(buyer, 120_000, 2_000)
    grid0, pay0 = floor.balance(buyer.grid_account), floor.balance(seller.payment_account)
    result = floor.settle([fill(floor, bid, ask, buyer, seller, 1_500)])
    value = value_of(100_000, 1_500)
    fee = fee_of(value, FEE_BPS)
    assert floor.balance(buyer.grid_account) == grid0 + 1_500
    assert floor.balance(seller.payment_account) == pay0 + value - fee
    assert floor.balance(floor.fee_account) == fee
    b, a = floor.order(bid), floor.order(ask)
    assert (b.remaining_wh, a.remaining_wh) == (500, 1_500)
    assert b.escrow_amount == value_of(120_000, 2_000) - value
    m = floor.trading.read(floor.chain, floor.market.address)
    assert (m.volume_wh, m.fees_collected) == (1_500, fee)
    (event,) = floor.trading.program.decode_events(result.logs)
    assert event.name == "FillSettled"
    d = event.data
    assert (d.bid_id, d.ask_id, d.buyer, d.seller) == (1, 0, buyer.pubkey, seller.pubkey)
    assert (d.price_per_kwh, d.energy_wh, d.value, d.fee) == (100_000, 1_500, value, fee)
    assert (d.buyer_improvement, d.bid_remaining_wh, d.ask_remaining_wh, d.auction_slot) == (
        value_of(20_000, 1_500), 500, 1_500, 0)


def test_taker_ask_trades_at_the_resting_bid_s_price(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    bid = floor.bid(buyer, 120_000, 1_000)
    ask = floor.ask(seller, 90_000, 1_000)
    pay0 = floor.balance(seller.payment_account)
    floor.settle([fill(floor, bid, ask, buyer, seller, 1_000)])
    value = value_of(120_000, 1_000)
    assert floor.balance(seller.payment_account) == pay0 + value - fee_of(value, FEE_BPS)
    assert floor.order(bid).escrow_amount == 0


def test_fee_is_rounded_up_in_the_market_s_favour(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask = floor.ask(seller, 1_000, 1)   # value 1 payment unit
    bid = floor.bid(buyer, 1_000, 1)
    pay0 = floor.balance(seller.payment_account)
    floor.settle([fill(floor, bid, ask, buyer, seller, 1)])
    assert floor.balance(floor.fee_account) == 1 and floor.balance(seller.payment_account) == pay0


def test_batch_fills_are_applied_in_order_and_netted_per_destination(floor):
    s1, s2, buyer = floor.traders[0], floor.traders[1], floor.traders[2]
    ask1, ask2 = floor.ask(s1, 100_000, 1_000), floor.ask(s2, 110_000, 1_000)
    bid = floor.bid(buyer, 110_000, 3_000)
    grid0 = floor.balance(buyer.grid_account)
    fills = [fill(floor, bid, ask1, buyer, s1, 600), fill(floor, bid, ask1, buyer, s1, 400),
             fill(floor, bid, ask2, buyer, s2, 1_000)]
    result = floor.settle(fills)
    assert floor.balance(buyer.grid_account) == grid0 + 2_000
    assert floor.order(bid).remaining_wh == 1_000
    assert (floor.order(ask1).remaining_wh, floor.order(ask2).remaining_wh) == (0, 0)
    # One GRID transfer to the buyer, one payment transfer per seller, one for the fees.
    assert sum("Instruction: Transfer" in line for line in result.logs) == 4
    events = floor.trading.program.decode_events(result.logs)
    assert [e.data.bid_remaining_wh for e in events] == [2_400, 2_000, 1_000]


def test_a_failing_fill_undoes_the_whole_batch(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask = floor.ask(seller, 100_000, 1_000)
    bid = floor.bid(buyer, 100_000, 1_000)
    before = (floor.grid_balances(), floor.payment_balances())
    result = floor.settle([fill(floor, bid, ask, buyer, seller, 600), fill(floor, bid, ask, buyer, seller, 600)],
                          check=False)
    expect_error(result, 6116, "FillExceedsRemaining")
    assert (floor.grid_balances(), floor.payment_balances()) == before
    assert floor.order(bid).remaining_wh == 1_000


# --- auction market ------------------------------------------------------------------------

def test_auction_fills_all_trade_at_the_clearing_price(auction):
    s1, s2, b1, b2 = auction.traders
    a1, a2 = auction.ask(s1, 80_000, 1_000), auction.ask(s2, 100_000, 1_000)
    x1, x2 = auction.bid(b1, 130_000, 1_000), auction.bid(b2, 100_000, 1_000)
    auction.chain.set_time(SLOT_END)
    fills = [fill(auction, x1, a1, b1, s1, 1_000), fill(auction, x2, a2, b2, s2, 1_000)]
    result = auction.settle(fills, auction_slot=SLOT, clearing_price=100_000)
    events = auction.trading.program.decode_events(result.logs)
    assert [e.name for e in events] == ["FillSettled", "FillSettled", "AuctionCleared"]
    assert {e.data.price_per_kwh for e in events[:2]} == {100_000}
    assert [e.data.buyer_improvement for e in events[:2]] == [value_of(30_000, 1_000), 0]
    assert events[2].data.auction_slot == SLOT and events[2].data.clearing_price == 100_000
    m = auction.trading.read(auction.chain, auction.market.address)
    assert (m.cleared_slot, m.clearing_price) == (SLOT, 100_000)


def test_a_cleared_slot_can_be_settled_in_several_transactions_at_its_one_price(auction):
    s1, s2, b1, b2 = auction.traders
    a1, x1 = auction.ask(s1, 90_000, 2_000), auction.bid(b1, 110_000, 2_000)
    auction.chain.set_time(SLOT_END + 5)
    auction.settle([fill(auction, x1, a1, b1, s1, 1_000)], auction_slot=SLOT, clearing_price=100_000)
    auction.settle([fill(auction, x1, a1, b1, s1, 1_000)], auction_slot=SLOT, clearing_price=100_000)
    result = auction.settle([fill(auction, x1, a1, b1, s1, 1)], auction_slot=SLOT, clearing_price=90_000, check=False)
    expect_error(result, 6125, "ClearingPriceMismatch")


def test_auction_slot_must_be_over(auction):
    s1, _, b1, _ = auction.traders
    a1, x1 = auction.ask(s1, 90_000, 1_000), auction.bid(b1, 110_000, 1_000)
    auction.chain.set_time(SLOT_END - 1)
    result = auction.settle([fill(auction, x1, a1, b1, s1, 10)], auction_slot=SLOT, clearing_price=100_000, check=False)
    expect_error(result, 6123, "AuctionSlotNotOver")


def test_an_earlier_slot_cannot_be_cleared_after_a_later_one(auction):
    s1, _, b1, _ = auction.traders
    a1, x1 = auction.ask(s1, 90_000, 1_000), auction.bid(b1, 110_000, 1_000)
    auction.chain.set_time(SLOT_END + SLOT_SECS)
    auction.settle([fill(auction, x1, a1, b1, s1, 10)], auction_slot=SLOT + 1, clearing_price=100_000)
    result = auction.settle([fill(auction, x1, a1, b1, s1, 10)], auction_slot=SLOT, clearing_price=100_000, check=False)
    expect_error(result, 6124, "AuctionSlotClosed")


def test_orders_placed_after_the_slot_ended_wait_for_the_next_slot(auction):
    s1, _, b1, _ = auction.traders
    a1 = auction.ask(s1, 90_000, 1_000)
    auction.chain.set_time(SLOT_END)
    late = auction.bid(b1, 110_000, 1_000)
    result = auction.settle([fill(auction, late, a1, b1, s1, 10)], auction_slot=SLOT, clearing_price=100_000,
                            check=False)
    expect_error(result, 6126, "OrderNotInAuctionSlot")
    auction.chain.set_time(SLOT_END + SLOT_SECS)
    auction.settle([fill(auction, late, a1, b1, s1, 10)], auction_slot=SLOT + 1, clearing_price=100_000)


@pytest.mark.parametrize("price,code,name", [(131_000, 6117, "PriceOutsideLimits"), (79_000, 6117, "PriceOutsideLimits"),
                                             (100_500, 6104, "InvalidPrice"), (0, 6104, "InvalidPrice")])
def test_clearing_price_must_be_on_the_tick_and_within_both_limits(auction, price, code, name):
    s1, _, b1, _ = auction.traders
    a1, x1 = auction.ask(s1, 80_000, 1_000), auction.bid(b1, 130_000, 1_000)
    auction.chain.set_time(SLOT_END)
    result = auction.settle([fill(auction, x1, a1, b1, s1, 10)], auction_slot=SLOT, clearing_price=price, check=False)
    expect_error(result, code, name)


def test_continuous_markets_take_no_auction_fields(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask, bid = floor.ask(seller, 100_000, 1_000), floor.bid(buyer, 100_000, 1_000)
    for kw in (dict(auction_slot=1), dict(clearing_price=100_000)):
        expect_error(floor.settle([fill(floor, bid, ask, buyer, seller, 10)], check=False, **kw), 6122,
                     "NotAnAuctionMarket")


# --- continuous market: failures -------------------------------------------------------------

@pytest.fixture
def book(floor):
    """One resting ask (trader 0) and one bid (trader 2) that cross."""
    seller, buyer = floor.traders[0], floor.traders[2]
    ask = floor.ask(seller, 100_000, 1_000, expires_at=CHAIN_TIME + 60)
    bid = floor.bid(buyer, 120_000, 1_000)
    return floor, bid, ask, buyer, seller


def test_only_the_matcher_settles(book):
    f, bid, ask, buyer, seller = book
    ix = f.trading.settle_fills(f.market, [fill(f, bid, ask, buyer, seller, 10)])
    impostor = f.chain.new_funded_keypair()
    expect_error(f.chain.send([replace_account(ix, 0, impostor.pubkey())], [impostor], check=False), 6119, "NotMatcher")
    expect_error(f.chain.send([replace_account(ix, 0, signer=False)], [impostor], check=False), 6003,
                 "MissingSignature")


@pytest.mark.parametrize("size,code,name", [(0, 6127, "InvalidFillSize"), (1_001, 6116, "FillExceedsRemaining")])
def test_fill_size_must_be_positive_and_within_remaining(book, size, code, name):
    f, bid, ask, buyer, seller = book
    expect_error(f.settle([fill(f, bid, ask, buyer, seller, size)], check=False), code, name)


def test_fill_size_must_be_a_lot_multiple():
    f = Floor.create()
    f.open_market(lot_size_wh=100, tick_size=10)
    seller, buyer = f.add_traders(2, grid_wh=1_000, payment=100_000)
    ask, bid = f.ask(seller, 100, 500), f.bid(buyer, 100, 500)
    expect_error(f.settle([fill(f, bid, ask, buyer, seller, 150)], check=False), 6127, "InvalidFillSize")
    f.settle([fill(f, bid, ask, buyer, seller, 200)])


def test_no_fill_below_the_ask_s_limit(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask, bid = floor.ask(seller, 120_000, 1_000), floor.bid(buyer, 119_000, 1_000)
    expect_error(floor.settle([fill(floor, bid, ask, buyer, seller, 10)], check=False), 6117, "PriceOutsideLimits")


def test_no_self_trade(floor):
    trader = floor.traders[0]
    ask, bid = floor.ask(trader, 100_000, 1_000), floor.bid(trader, 100_000, 1_000)
    expect_error(floor.settle([fill(floor, bid, ask, trader, trader, 10)], check=False), 6115, "SelfTrade")


def test_expired_orders_never_fill(book):
    f, bid, ask, buyer, seller = book
    f.chain.set_time(CHAIN_TIME + 60)
    expect_error(f.settle([fill(f, bid, ask, buyer, seller, 10)], check=False), 6114, "OrderExpired")


def test_cancelled_orders_never_fill(book):
    f, bid, ask, buyer, seller = book
    f.chain.send([f.trading.cancel_order(seller.pubkey, f.market, ask, ASK)], [seller.wallet])
    expect_error(f.settle([fill(f, bid, ask, buyer, seller, 10)], check=False), 6112, "InvalidOrder")


def test_filled_orders_never_fill_again(book):
    f, bid, ask, buyer, seller = book
    f.settle([fill(f, bid, ask, buyer, seller, 1_000)])
    expect_error(f.settle([fill(f, bid, ask, buyer, seller, 1)], check=False), 6113, "OrderFilled")


def test_sides_must_match_their_positions(book):
    f, bid, ask, buyer, seller = book
    expect_error(f.settle([fill(f, ask, bid, seller, buyer, 10)], check=False), 6118, "WrongSide")


def test_orders_of_another_market_are_refused(book):
    f, bid, ask, buyer, seller = book
    continuous = f.market
    f.open_market(auction_slot_secs=SLOT_SECS)
    other_ask = f.ask(seller, 100_000, 1_000)
    f.market = continuous
    expect_error(f.settle([fill(f, bid, other_ask, buyer, seller, 10)], check=False), 6109, "WrongMarket")


def test_proceeds_go_only_to_the_owners_accounts(book):
    f, bid, ask, buyer, seller = book
    thief = f.traders[1]
    for wrong in (Fill(bid, ask, buyer.pubkey, seller.pubkey, 10, buyer_grid_account=thief.grid_account),
                  Fill(bid, ask, buyer.pubkey, seller.pubkey, 10, seller_payment_account=thief.payment_account),
                  Fill(bid, ask, buyer.pubkey, seller.pubkey, 10, buyer_grid_account=buyer.payment_account)):
        expect_error(f.settle([wrong], check=False), 6107, "InvalidTokenAccount")


def test_vaults_and_fee_account_must_be_the_market_s(book):
    f, bid, ask, buyer, seller = book
    ix = f.trading.settle_fills(f.market, [fill(f, bid, ask, buyer, seller, 10)])
    for index, pubkey, code, name in ((2, f.market.payment_vault, 6108, "InvalidVault"),
                                      (3, f.market.grid_vault, 6108, "InvalidVault"),
                                      (4, buyer.payment_account, 6120, "InvalidFeeAccount"),
                                      (5, Keypair().pubkey(), 6102, "InvalidTokenProgram")):
        expect_error(f.chain.send([replace_account(ix, index, pubkey)], [f.matcher], check=False), code, name)


def test_every_fill_account_must_be_writable(book):
    f, bid, ask, buyer, seller = book
    ix = f.trading.settle_fills(f.market, [fill(f, bid, ask, buyer, seller, 10)])
    for index in (1, 6, 7, 8, 9):
        expect_error(f.chain.send([replace_account(ix, index, writable=False)], [f.matcher], check=False), 6004,
                     "AccountNotWritable")


def test_batch_shape_must_match(book):
    f, bid, ask, buyer, seller = book
    ix = f.trading.settle_fills(f.market, [fill(f, bid, ask, buyer, seller, 10)])
    no_fills = Instruction(ix.program_id, bytes(ix.data[:24]) + b"\0\0\0\0", ix.accounts[:6])
    two_sizes = Instruction(ix.program_id, bytes(ix.data[:24]) + b"\2\0\0\0" + bytes(ix.data[28:]) * 2, ix.accounts)
    extra = Instruction(ix.program_id, ix.data, [*ix.accounts, AccountMeta(bid, False, True)])
    for bad in (no_fills, two_sizes, extra):
        expect_error(f.chain.send([bad], [f.matcher], check=False), 6121, "InvalidBatch")
    short = Instruction(ix.program_id, bytes(ix.data[:20]), ix.accounts)
    expect_error(f.chain.send([short], [f.matcher], check=False), 6001, "InvalidInstructionData")


def test_more_than_48_fills_are_refused(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    ask, bid = floor.ask(seller, 100_000, 1_000), floor.bid(buyer, 100_000, 1_000)
    ix = floor.trading.settle_fills(floor.market, [fill(floor, bid, ask, buyer, seller, 1)] * 49)
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6121, "InvalidBatch")


def test_market_account_must_be_a_market(book):
    f, bid, ask, buyer, seller = book
    ix = f.trading.settle_fills(f.market, [fill(f, bid, ask, buyer, seller, 10)])
    expect_error(f.chain.send([replace_account(ix, 1, bid)], [f.matcher], check=False), 6008, "InvalidAccountData")


def test_a_bid_escrow_covers_any_fill_at_or_below_its_limit(floor):
    """A bid filled completely at its own limit uses exactly its escrow."""
    seller, buyer = floor.traders[0], floor.traders[2]
    bid = floor.bid(buyer, 100_000, 1_000)
    ask = floor.ask(seller, 100_000, 1_000)
    floor.settle([fill(floor, bid, ask, buyer, seller, 300), fill(floor, bid, ask, buyer, seller, 700)])
    assert floor.order(bid).escrow_amount == 0 and floor.order(ask).escrow_amount == 0
    assert floor.balance(floor.market.payment_vault) == 0 and floor.balance(floor.market.grid_vault) == 0
    assert {floor.order(bid).side, floor.order(ask).side} == {BID, ASK}
