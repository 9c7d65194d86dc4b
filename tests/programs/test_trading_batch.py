"""Many fills in one transaction: a v0 message whose accounts come from an address lookup
table — paid to token accounts within 15,000 CU per fill, credited to balance accounts
within the goal of 5,000 CU per fill (the public GridTokenX Anchor programs need 103,363
CU per fill and fit one fill per transaction)."""

from __future__ import annotations

from solders.compute_budget import set_compute_unit_limit
from solders.transaction import Transaction

from aggregator.chain.trading import ASK, BID, Fill, create_lookup_table, fee_of, send_v0, v0_transaction, value_of
from tests.programs.trading_helpers import FEE_BPS, Floor

PACKET_BYTES = 1232
FILLS = 16


def test_sixteen_fills_between_distinct_traders_settle_in_one_v0_transaction():
    f = Floor.create()
    f.open_market()
    sellers = f.add_traders(FILLS, grid_wh=2_000, payment=0)
    buyers = f.add_traders(FILLS, grid_wh=0, payment=1_000_000)
    asks = [f.ask(s, 100_000 + 1_000 * i, 1_000) for i, s in enumerate(sellers)]
    bids = [f.bid(b, 150_000, 1_000) for b in buyers]
    fills = [Fill(bids[i], asks[i], buyers[i].pubkey, sellers[i].pubkey, 1_000) for i in range(FILLS)]
    ix = f.trading.settle_fills(f.market, fills)
    budget = set_compute_unit_limit(1_400_000)

    legacy = Transaction.new_signed_with_payer([budget, ix], f.matcher.pubkey(), [f.matcher],
                                               f.chain.svm.latest_blockhash())
    assert len(bytes(legacy)) > PACKET_BYTES  # why the lookup table is needed
    table = create_lookup_table(f.chain, f.authority, [m.pubkey for m in ix.accounts])
    assert len(bytes(v0_transaction(f.chain, [budget, ix], [f.matcher], [table]))) <= PACKET_BYTES

    result = send_v0(f.chain, [budget, ix], [f.matcher], [table])
    assert result.compute_units / FILLS <= 15_000, result.compute_units
    events = [e for e in f.trading.program.decode_events(result.logs) if e.name == "FillSettled"]
    assert len(events) == FILLS
    fees = 0
    for i, (seller, buyer) in enumerate(zip(sellers, buyers)):
        value = value_of(100_000 + 1_000 * i, 1_000)
        fees += fee_of(value, FEE_BPS)
        assert f.balance(buyer.grid_account) == 1_000
        assert f.balance(seller.payment_account) == value - fee_of(value, FEE_BPS)
    assert f.balance(f.fee_account) == fees
    assert f.balance(f.market.grid_vault) == 0


def test_sixteen_fills_between_distinct_traders_credit_their_balances_within_5000_cu_each():
    f = Floor.create()
    f.open_market()
    sellers = f.add_traders(FILLS, grid_wh=2_000, payment=0)
    buyers = f.add_traders(FILLS, grid_wh=0, payment=1_000_000)
    for s in sellers:
        f.deposit(s, ASK, 1_000)
    for b in buyers:
        f.deposit(b, BID, 150_000)
    asks = [f.place(s, ASK, 100_000 + 1_000 * i, 1_000, from_balance=True)[0] for i, s in enumerate(sellers)]
    bids = [f.place(b, BID, 150_000, 1_000, from_balance=True)[0] for b in buyers]
    fills = [Fill(bids[i], asks[i], buyers[i].pubkey, sellers[i].pubkey, 1_000, f.balance_account(buyers[i]),
                  f.balance_account(sellers[i])) for i in range(FILLS)]
    ix = f.trading.settle_fills(f.market, fills)
    budget = set_compute_unit_limit(1_400_000)
    table = create_lookup_table(f.chain, f.authority, [m.pubkey for m in ix.accounts])
    grid_vault = f.balance(f.market.grid_vault)

    result = send_v0(f.chain, [budget, ix], [f.matcher], [table])
    assert result.compute_units / FILLS <= 5_000, result.compute_units
    fees = 0
    for i, (seller, buyer) in enumerate(zip(sellers, buyers)):
        value = value_of(100_000 + 1_000 * i, 1_000)
        fees += fee_of(value, FEE_BPS)
        assert f.held(buyer) == (1_000, 0)  # the bid's improvement stays in its escrow
        assert f.held(seller) == (0, value - fee_of(value, FEE_BPS))
        assert f.balance(buyer.grid_account) == 0 and f.balance(seller.payment_account) == 0
    assert f.balance(f.fee_account) == fees
    assert f.balance(f.market.grid_vault) == grid_vault  # the GRID stayed, now the buyers'
