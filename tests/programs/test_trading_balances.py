"""trading: balance accounts held by the market in LiteSVM — deposit and withdraw, orders
funded from a balance, proceeds and refunds credited to balances, and every failure path
with its exact code. Funds in a balance leave it only by the owner's signature."""

from __future__ import annotations

from solders.instruction import Instruction

from aggregator.chain.trading import ASK, BID, Fill, fee_of, value_of
from tests.programs.trading_helpers import FEE_BPS, expect_error, replace_account
from tests.programs.trading_helpers import floor  # noqa: F401  (fixture)


def test_deposit_creates_the_balance_account_then_adds_to_it(floor):
    trader = floor.traders[0]
    grid0 = floor.balance(trader.grid_account)
    ix = floor.trading.deposit(trader.pubkey, floor.market, 1_500, side=ASK)
    result = floor.chain.send([ix], [trader.wallet])
    assert floor.held(trader) == (1_500, 0)
    assert floor.balance(trader.grid_account) == grid0 - 1_500
    assert floor.balance(floor.market.grid_vault) == 1_500
    (event,) = floor.trading.program.decode_events(result.logs)
    assert event.name == "BalanceChanged"
    assert (event.data.owner, event.data.mint, event.data.deposited, event.data.withdrawn, event.data.balance) == (
        trader.pubkey, floor.trading.token.mint_address(), 1_500, 0, 1_500)
    floor.deposit(trader, ASK, 500)
    floor.deposit(trader, BID, 7_000)
    assert floor.held(trader) == (2_000, 7_000)
    assert floor.balance(floor.market.payment_vault) == 7_000
    acc = floor.trading.read(floor.chain, floor.balance_account(trader))
    assert (acc.market, acc.owner) == (floor.market.address, trader.pubkey)


def test_withdraw_pays_the_owner_s_token_account(floor):
    trader = floor.traders[1]
    floor.deposit(trader, BID, 10_000)
    pay0 = floor.balance(trader.payment_account)
    result = floor.chain.send([floor.trading.withdraw(trader.pubkey, floor.market, 4_000, side=BID)], [trader.wallet])
    assert floor.held(trader) == (0, 6_000)
    assert floor.balance(trader.payment_account) == pay0 + 4_000
    assert floor.balance(floor.market.payment_vault) == 6_000
    (event,) = floor.trading.program.decode_events(result.logs)
    assert (event.data.deposited, event.data.withdrawn, event.data.balance) == (0, 4_000, 6_000)


def test_deposit_and_withdraw_refusals(floor):
    owner, other = floor.traders[0], floor.traders[1]
    market = floor.market
    expect_error(floor.chain.send([floor.trading.deposit(owner.pubkey, market, 0, side=ASK)], [owner.wallet],
                                  check=False), 6130, "InvalidAmount")
    # The GRID deposit into the payment vault, and from another trader's token account.
    ix = replace_account(floor.trading.deposit(owner.pubkey, market, 10, side=ASK), 4, market.payment_vault)
    expect_error(floor.chain.send([ix], [owner.wallet], check=False), 6108, "InvalidVault")
    ix = replace_account(floor.trading.deposit(owner.pubkey, market, 10, side=ASK), 3, other.grid_account)
    expect_error(floor.chain.send([ix], [owner.wallet], check=False), 6107, "InvalidTokenAccount")
    # A balance account at another address than the owner's PDA.
    ix = replace_account(floor.trading.deposit(owner.pubkey, market, 10, side=ASK), 2,
                         floor.trading.balance_address(market.address, other.pubkey))
    expect_error(floor.chain.send([ix], [owner.wallet], check=False), 6005, "InvalidPda")

    floor.deposit(owner, ASK, 100)
    floor.deposit(other, ASK, 100)
    expect_error(floor.chain.send([floor.trading.withdraw(owner.pubkey, market, 101, side=ASK)], [owner.wallet],
                                  check=False), 6129, "InsufficientBalance")
    expect_error(floor.chain.send([floor.trading.withdraw(owner.pubkey, market, 0, side=ASK)], [owner.wallet],
                                  check=False), 6130, "InvalidAmount")
    # Nobody withdraws another owner's balance, not even to the owner's own account.
    ix = replace_account(floor.trading.withdraw(owner.pubkey, market, 10, side=ASK), 2,
                         floor.balance_account(other))
    expect_error(floor.chain.send([ix], [owner.wallet], check=False), 6107, "InvalidTokenAccount")
    ix = replace_account(floor.trading.withdraw(owner.pubkey, market, 10, side=ASK), 3, other.grid_account)
    expect_error(floor.chain.send([ix], [owner.wallet], check=False), 6107, "InvalidTokenAccount")
    ix = replace_account(floor.trading.withdraw(owner.pubkey, market, 10, side=ASK), 4, market.payment_vault)
    expect_error(floor.chain.send([ix], [owner.wallet], check=False), 6108, "InvalidVault")
    ix = replace_account(floor.trading.withdraw(owner.pubkey, market, 10, side=ASK), 0, signer=False)
    expect_error(floor.chain.send([ix], [floor.matcher], check=False), 6003, "MissingSignature")
    assert (floor.held(owner), floor.held(other)) == ((100, 0), (100, 0))


def test_orders_funded_from_a_balance_move_no_tokens(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    floor.deposit(seller, ASK, 3_000)
    floor.deposit(buyer, BID, 500_000)
    vaults = floor.balance(floor.market.grid_vault), floor.balance(floor.market.payment_vault)
    ask, _ = floor.place(seller, ASK, 100_000, 2_000, from_balance=True)
    bid, _ = floor.place(buyer, BID, 120_000, 2_000, from_balance=True)
    assert (floor.balance(floor.market.grid_vault), floor.balance(floor.market.payment_vault)) == vaults
    assert floor.held(seller) == (1_000, 0)
    assert floor.held(buyer) == (0, 500_000 - value_of(120_000, 2_000))
    assert (floor.order(ask).escrow_amount, floor.order(bid).escrow_amount) == (2_000, value_of(120_000, 2_000))
    _, result = floor.place(seller, ASK, 100_000, 1_001, from_balance=True, check=False)
    expect_error(result, 6129, "InsufficientBalance")
    # Another trader's balance cannot fund an order.
    order_id = floor.next_order_id()
    ix = floor.trading.place_order(buyer.pubkey, floor.market, order_id, side=ASK, price_per_kwh=100_000, size_wh=10,
                                   source=floor.balance_account(seller))
    expect_error(floor.chain.send([ix], [buyer.wallet], check=False), 6107, "InvalidTokenAccount")
    assert floor.held(seller) == (1_000, 0)


def test_place_order_checks_the_order_address_with_the_client_s_bump(floor):
    trader = floor.traders[0]
    order_id = floor.next_order_id()
    ix = floor.trading.place_order(trader.pubkey, floor.market, order_id, side=ASK, price_per_kwh=100_000, size_wh=10)
    address, bump = floor.trading.order_pda(floor.market.address, order_id)
    data = bytearray(bytes(ix.data))
    assert data[-1] == bump
    data[-1] = (bump - 1) % 256
    wrong = Instruction(ix.program_id, bytes(data), ix.accounts)
    expect_error(floor.chain.send([wrong], [trader.wallet], check=False), 6005, "InvalidPda")
    result = floor.chain.send([ix], [trader.wallet])
    (event,) = floor.trading.program.decode_events(result.logs)
    assert (event.data.order, event.data.order_id) == (address, order_id)


def test_fills_credit_balances_in_place_and_pay_the_fee(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    floor.deposit(seller, ASK, 2_000)
    floor.deposit(buyer, BID, 500_000)
    ask, _ = floor.place(seller, ASK, 100_000, 2_000, from_balance=True)
    bid, _ = floor.place(buyer, BID, 120_000, 2_000, from_balance=True)
    wallets = floor.balance(buyer.grid_account), floor.balance(seller.payment_account)
    result = floor.settle([Fill(bid, ask, buyer.pubkey, seller.pubkey, 1_500, floor.balance_account(buyer),
                                floor.balance_account(seller))])
    value = value_of(100_000, 1_500)
    fee = fee_of(value, FEE_BPS)
    assert floor.held(buyer) == (1_500, 500_000 - value_of(120_000, 2_000))
    assert floor.held(seller) == (0, value - fee)
    assert (floor.balance(buyer.grid_account), floor.balance(seller.payment_account)) == wallets
    assert floor.balance(floor.fee_account) == fee
    (event,) = floor.trading.program.decode_events(result.logs)
    assert (event.data.value, event.data.fee, event.data.energy_wh) == (value, fee, 1_500)
    # Mixed: the buyer's token account, the seller's balance.
    floor.settle([Fill(bid, ask, buyer.pubkey, seller.pubkey, 500, None, floor.balance_account(seller))])
    assert floor.balance(buyer.grid_account) == wallets[0] + 500
    assert floor.held(seller)[1] == value - fee + value_of(100_000, 500) - fee_of(value_of(100_000, 500), FEE_BPS)
    # The grid vault holds what balances and open asks hold, nothing more.
    assert floor.balance(floor.market.grid_vault) == floor.held(buyer)[0] + floor.order(ask).escrow_amount


def test_a_fill_never_credits_another_owner_s_balance(floor):
    seller, buyer, third = floor.traders[0], floor.traders[2], floor.traders[3]
    floor.deposit(third, ASK, 1)
    ask = floor.ask(seller, 100_000, 100)
    bid = floor.bid(buyer, 120_000, 100)
    for fill in (Fill(bid, ask, buyer.pubkey, seller.pubkey, 10, floor.balance_account(third)),
                 Fill(bid, ask, buyer.pubkey, seller.pubkey, 10, None, floor.balance_account(third))):
        expect_error(floor.settle([fill], check=False), 6107, "InvalidTokenAccount")
    assert floor.held(third) == (1, 0)


def test_cancel_expire_and_refund_can_credit_the_owner_s_balance(floor):
    seller, buyer = floor.traders[0], floor.traders[2]
    floor.deposit(buyer, BID, 1)
    floor.deposit(seller, ASK, 1)
    ask = floor.ask(seller, 100_000, 1_000)
    bid = floor.bid(buyer, 120_000, 1_000)
    floor.settle([Fill(bid, ask, buyer.pubkey, seller.pubkey, 400)])
    improvement = value_of(20_000, 400)
    refund = floor.trading.refund_improvement(floor.market, [(bid, buyer.pubkey)], to_balance=True)
    floor.chain.send([refund], [floor.matcher])
    assert floor.held(buyer) == (0, 1 + improvement)
    floor.chain.send([floor.trading.cancel_order(buyer.pubkey, floor.market, bid, BID, floor.balance_account(buyer))],
                     [buyer.wallet])
    assert floor.held(buyer) == (0, 1 + improvement + value_of(120_000, 600))
    floor.chain.send([floor.trading.cancel_order(seller.pubkey, floor.market, ask, ASK, floor.balance_account(seller))],
                     [seller.wallet])
    assert floor.held(seller) == (1 + 600, 0)
    assert floor.order(bid) is None and floor.order(ask) is None

