"""trading: initialize_market and place_order in LiteSVM, every success and failure path."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from aggregator.chain.trading import ASK, BID, value_of
from tests.programs.trading_helpers import CHAIN_TIME, FEE_BPS, LOT_WH, TICK, Floor, expect_error, replace_account
from tests.programs.trading_helpers import floor  # noqa: F401  (fixture)


@pytest.fixture
def bare() -> Floor:
    """Programs, payment mint and fee account; no market yet."""
    return Floor.create()


def init_ix(f: Floor, **kw):
    params = dict(matcher=f.matcher.pubkey(), fee_bps=FEE_BPS, lot_size_wh=LOT_WH, tick_size=TICK, auction_slot_secs=0)
    params.update(kw)
    return f.trading.initialize_market(f.authority.pubkey(), f.payment_mint, f.fee_account, **params)


# --- initialize_market -----------------------------------------------------------------

def test_initialize_market_creates_market_and_vaults(bare):
    result = bare.chain.send([init_ix(bare, auction_slot_secs=900)], [bare.authority])
    address = bare.trading.market_address(bare.authority.pubkey(), bare.payment_mint, 900)
    m = bare.trading.read(bare.chain, address)
    assert (m.authority, m.matcher, m.payment_mint, m.fee_account) == (
        bare.authority.pubkey(), bare.matcher.pubkey(), bare.payment_mint, bare.fee_account)
    assert (m.fee_bps, m.lot_size_wh, m.tick_size, m.auction_slot_secs, m.next_order_id) == (FEE_BPS, LOT_WH, TICK, 900, 0)
    assert (m.cleared_slot, m.clearing_price, m.volume_wh, m.fees_collected) == (0, 0, 0, 0)
    assert m.grid_vault == bare.trading.grid_vault_address(address)
    assert m.payment_vault == bare.trading.payment_vault_address(address)
    for vault, mint in ((m.grid_vault, bare.trading.token.mint_address()), (m.payment_vault, bare.payment_mint)):
        raw = bytes(bare.chain.account(vault).data)
        assert (Pubkey.from_bytes(raw[:32]), Pubkey.from_bytes(raw[32:64])) == (mint, address)
    (event,) = bare.trading.program.decode_events(result.logs)
    assert event.name == "MarketInitialized"
    assert (event.data.market, event.data.auction_slot_secs, event.data.fee_bps) == (address, 900, FEE_BPS)


def test_continuous_and_auction_markets_coexist_for_one_payment_mint(bare):
    bare.chain.send([init_ix(bare), init_ix(bare, auction_slot_secs=900)], [bare.authority])
    addresses = {bare.trading.market_address(bare.authority.pubkey(), bare.payment_mint, s) for s in (0, 900)}
    assert all(bare.chain.account(a) is not None for a in addresses) and len(addresses) == 2


def test_initialize_market_twice_is_refused(bare):
    bare.chain.send([init_ix(bare)], [bare.authority])
    expect_error(bare.chain.send([init_ix(bare)], [bare.authority], check=False), 6006, "AccountAlreadyExists")


@pytest.mark.parametrize("params", [
    dict(lot_size_wh=0), dict(tick_size=0), dict(lot_size_wh=3, tick_size=7), dict(lot_size_wh=10, tick_size=50),
    dict(fee_bps=10_001),
])
def test_initialize_market_rejects_invalid_parameters(bare, params):
    expect_error(bare.chain.send([init_ix(bare, **params)], [bare.authority], check=False), 6101, "InvalidMarketParams")


def test_lot_and_tick_whose_product_is_a_multiple_of_1000_are_accepted(bare):
    bare.chain.send([init_ix(bare, lot_size_wh=100, tick_size=10, fee_bps=10_000)], [bare.authority])


def test_initialize_market_requires_the_authority_signature(bare):
    payer = bare.chain.new_funded_keypair()
    ix = replace_account(init_ix(bare), 0, signer=False)
    expect_error(bare.chain.send([ix], [payer], check=False), 6003, "MissingSignature")


def test_initialize_market_requires_a_writable_market(bare):
    ix = replace_account(init_ix(bare), 1, writable=False)
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6004, "AccountNotWritable")


@pytest.mark.parametrize("index", [1, 4, 5])
def test_initialize_market_rejects_addresses_that_are_not_the_pdas(bare, index):
    ix = replace_account(init_ix(bare), index, Keypair().pubkey())
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6005, "InvalidPda")


def test_initialize_market_rejects_a_grid_mint_that_is_not_energy_token_s(bare):
    ix = replace_account(init_ix(bare), 2, bare.payment_mint)
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6100, "InvalidMint")


def test_initialize_market_rejects_a_payment_mint_that_is_not_a_mint(bare):
    ix = bare.trading.initialize_market(bare.authority.pubkey(), bare.fee_account, bare.fee_account,
                                        matcher=bare.matcher.pubkey(), fee_bps=0, lot_size_wh=1, tick_size=1000)
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6100, "InvalidMint")


def test_initialize_market_rejects_grid_as_payment_mint(bare):
    grid = bare.trading.token.mint_address()
    ix = bare.trading.initialize_market(bare.authority.pubkey(), grid, bare.fee_account,
                                        matcher=bare.matcher.pubkey(), fee_bps=0, lot_size_wh=1, tick_size=1000)
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6100, "InvalidMint")


def test_initialize_market_rejects_a_fee_account_of_another_mint(bare):
    (trader,) = bare.add_traders(1, grid_wh=1_000, payment=0)
    ix = replace_account(init_ix(bare), 6, trader.grid_account)
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6120, "InvalidFeeAccount")


def test_initialize_market_rejects_a_fake_token_program(bare):
    ix = replace_account(init_ix(bare), 7, Keypair().pubkey())
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6102, "InvalidTokenProgram")


def test_initialize_market_rejects_a_fake_system_program(bare):
    ix = replace_account(init_ix(bare), 8, Keypair().pubkey())
    expect_error(bare.chain.send([ix], [bare.authority], check=False), 6009, "InvalidSystemProgram")


# --- place_order -------------------------------------------------------------------------

def test_place_ask_escrows_grid_and_records_the_order(floor):
    seller = floor.traders[0]
    before = floor.balance(seller.grid_account)
    address, result = floor.place(seller, ASK, 120_000, 2_500, expires_at=CHAIN_TIME + 3600)
    o = floor.order(address)
    assert (o.owner, o.order_id, o.side, o.price_per_kwh, o.size_wh, o.remaining_wh, o.escrow_amount) == (
        seller.pubkey, 0, ASK, 120_000, 2_500, 2_500, 2_500)
    assert (o.placed_at, o.expires_at, o.market) == (CHAIN_TIME, CHAIN_TIME + 3600, floor.market.address)
    assert floor.balance(seller.grid_account) == before - 2_500
    assert floor.balance(floor.market.grid_vault) == 2_500
    assert floor.trading.read(floor.chain, floor.market.address).next_order_id == 1
    (event,) = floor.trading.program.decode_events(result.logs)
    assert event.name == "OrderPlaced"
    assert (event.data.order_id, event.data.side, event.data.escrow_amount) == (0, ASK, 2_500)


def test_place_bid_escrows_its_limit_value(floor):
    buyer = floor.traders[2]
    before = floor.balance(buyer.payment_account)
    address, _ = floor.place(buyer, BID, 150_000, 3_000)
    assert floor.order(address).escrow_amount == value_of(150_000, 3_000) == 450_000
    assert floor.balance(buyer.payment_account) == before - 450_000
    assert floor.balance(floor.market.payment_vault) == 450_000


def test_order_ids_follow_the_market_sequence(floor):
    ids = [floor.order(floor.ask(floor.traders[i % 4], 100_000, 10)).order_id for i in range(5)]
    assert ids == [0, 1, 2, 3, 4]


def place_ix(f: Floor, trader=None, **kw):
    trader = trader or f.traders[0]
    params = dict(side=ASK, price_per_kwh=100_000, size_wh=1_000, expires_at=0)
    params.update(kw)
    return f.trading.place_order(trader.pubkey, f.market, f.next_order_id(), **params)


def send_place(f: Floor, ix, signer=None):
    return f.chain.send([ix], [signer or f.traders[0].wallet], check=False)


@pytest.mark.parametrize("side", [2, 255])
def test_place_order_rejects_an_unknown_side(floor, side):
    expect_error(send_place(floor, place_ix(floor, side=side)), 6103, "InvalidSide")


@pytest.mark.parametrize("price", [0, TICK + 1, TICK // 2])
def test_place_order_rejects_prices_off_the_tick(floor, price):
    expect_error(send_place(floor, place_ix(floor, price_per_kwh=price)), 6104, "InvalidPrice")


def test_place_order_rejects_a_size_off_the_lot():
    f = Floor.create()
    f.open_market(lot_size_wh=100, tick_size=10)
    f.add_traders(1, grid_wh=1_000, payment=0)
    expect_error(send_place(f, place_ix(f, size_wh=150, price_per_kwh=10)), 6105, "InvalidSize")
    expect_error(send_place(f, place_ix(f, size_wh=0, price_per_kwh=10)), 6105, "InvalidSize")


@pytest.mark.parametrize("expires_at", [CHAIN_TIME, CHAIN_TIME - 1, 1])
def test_place_order_rejects_an_expiry_in_the_past(floor, expires_at):
    expect_error(send_place(floor, place_ix(floor, expires_at=expires_at)), 6106, "InvalidExpiry")


def test_place_order_rejects_a_source_of_another_owner_or_mint(floor):
    other = floor.traders[1]
    expect_error(send_place(floor, replace_account(place_ix(floor), 3, other.grid_account)), 6107, "InvalidTokenAccount")
    expect_error(send_place(floor, replace_account(place_ix(floor), 3, floor.traders[0].payment_account)),
                 6107, "InvalidTokenAccount")


def test_place_order_rejects_the_other_side_s_vault(floor):
    ix = replace_account(place_ix(floor, side=BID), 4, floor.market.grid_vault)
    expect_error(send_place(floor, ix), 6108, "InvalidVault")


def test_place_order_rejects_an_order_address_for_another_id(floor):
    ix = replace_account(place_ix(floor), 2, floor.trading.order_address(floor.market.address, 7))
    expect_error(send_place(floor, ix), 6005, "InvalidPda")


def test_place_order_requires_the_owner_signature(floor):
    payer = floor.chain.new_funded_keypair()
    ix = replace_account(place_ix(floor), 0, signer=False)
    expect_error(floor.chain.send([ix], [payer], check=False), 6003, "MissingSignature")


def test_place_order_rejects_a_market_that_is_not_a_market(floor):
    ix = replace_account(place_ix(floor), 1, floor.traders[0].pubkey)
    expect_error(send_place(floor, ix), 6007, "InvalidAccountOwner")


def test_place_order_rejects_a_value_beyond_u64(floor):
    expect_error(send_place(floor, place_ix(floor, price_per_kwh=TICK * 10**14, size_wh=10**6)), 6011,
                 "ArithmeticOverflow")


def test_place_order_without_enough_tokens_fails_in_spl_token_and_changes_nothing(floor):
    trader = floor.traders[0]
    before = floor.balance(trader.grid_account)
    result = send_place(floor, place_ix(floor, size_wh=before + 1))
    assert not result.ok and result.custom_code == 1  # SPL Token: insufficient funds
    assert floor.balance(trader.grid_account) == before
    assert floor.next_order_id() == 0


def test_dust_sent_to_the_next_order_address_does_not_block_placing(floor):
    next_order = floor.trading.order_address(floor.market.address, floor.next_order_id())
    floor.chain.send([transfer(TransferParams(from_pubkey=floor.matcher.pubkey(), to_pubkey=next_order, lamports=1))],
                     [floor.matcher])
    address = floor.ask(floor.traders[0], 100_000, 1_000)
    assert address == next_order and floor.order(address).remaining_wh == 1_000
