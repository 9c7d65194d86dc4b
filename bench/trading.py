"""Compute units per instruction of the trading program, in LiteSVM (classic SPL Token).

settle_fills is measured between distinct buyers and sellers, in v0 transactions whose
accounts come from an address lookup table: with proceeds credited to the traders'
balance accounts in the market (`cu_per_fill`: no token transfer per fill, one fee
transfer per batch), and paid to their token accounts (`cu_per_fill_token_accounts`: two
token transfers per fill, the worst case for netting); and with one seller's ask filling
many bids (the seller's token account is paid once per batch). `max_fills_per_tx` is the
largest batch that executes in one transaction, fits a 1,232-byte packet and locks at most
128 accounts; `max_fills_legacy_tx` the largest that fits a legacy (no lookup table)
transaction's packet. place_order is reported as the worst of 96 orders, funded from
balance accounts (`cu`) and from token accounts (`cu_token_source`).
"""

from __future__ import annotations

import statistics

from solders.compute_budget import set_compute_unit_limit
from solders.transaction import Transaction

from aggregator.chain.trading import ASK, BID, MAX_FILLS, Fill, create_lookup_table, send_v0, v0_transaction
from common.wire import PACKET_BYTES
from devservers.trading_floor import CHAIN_TIME, Floor

ORDER_WH = 1_000
BID_ESCROW = 120_000  # a 1 kWh bid at 120,000 per kWh
ACCOUNT_LOCKS = 128  # a validator's limit of accounts per transaction (LiteSVM does not enforce it)

UNITS = {
    key: "CU" for key in (
        "trading.initialize_market.cu", "trading.deposit.cu", "trading.deposit.cu_first", "trading.withdraw.cu",
        "trading.place_order.cu", "trading.place_order.cu_token_source", "trading.cancel_order.cu",
        "trading.expire_order.cu", "trading.refund_improvement.cu", "trading.settle_fills.cu_1_fill",
        "trading.settle_fills.cu_per_fill", "trading.settle_fills.cu_per_fill_token_accounts",
        "trading.settle_fills.cu_per_fill_one_seller", "trading.settle_fills.cu_max_batch",
    )
} | {"trading.settle_fills.max_fills_per_tx": "fills", "trading.settle_fills.max_fills_per_tx_token_accounts": "fills",
     "trading.settle_fills.max_fills_per_tx_one_seller": "fills", "trading.settle_fills.max_fills_legacy_tx": "fills",
     "trading.settle_fills.max_batch_tx_bytes": "bytes"}
GOALS = {
    "trading.settle_fills.cu_per_fill": "goal <= 5,000 (public GridTokenX Anchor: 103,363)",
    "trading.place_order.cu": "goal <= 5,000, worst of 96",
    "trading.settle_fills.max_fills_per_tx": "goal >= 8 (public GridTokenX Anchor: 1)",
    "trading.settle_fills.max_batch_tx_bytes": "packet limit 1,232",
}


def run(token_program: bytes | None = None) -> dict[str, float]:
    """The metrics with LiteSVM's classic SPL Token, or with `token_program` (an SPL Token
    ELF such as p-token) in its place."""
    out: dict[str, float] = {}
    f = Floor.create(token_program=token_program)
    ix = f.trading.initialize_market(f.authority.pubkey(), f.payment_mint, f.fee_account, matcher=f.matcher.pubkey(),
                                     fee_bps=25, lot_size_wh=1, tick_size=1_000)
    out["trading.initialize_market.cu"] = f.chain.send([ix], [f.authority]).compute_units
    market = f.trading.market_address(f.authority.pubkey(), f.payment_mint, 0)
    f.market = f.trading.market_ref(f.chain, market)
    sellers = f.add_traders(MAX_FILLS, grid_wh=2 * ORDER_WH, payment=0)
    buyers = f.add_traders(MAX_FILLS, grid_wh=0, payment=2 * BID_ESCROW + 10_000)

    # Balance accounts: the first deposit creates one (the canonical address is searched
    # for once per trader and market), later deposits only transfer.
    first, later = [], []
    for trader, side, amount in [(s, ASK, ORDER_WH) for s in sellers] + [(b, BID, BID_ESCROW) for b in buyers]:
        first.append(_deposit(f, trader, side, amount - 1))
        later.append(_deposit(f, trader, side, 1))
    out["trading.deposit.cu_first"] = int(statistics.median(first))
    out["trading.deposit.cu"] = max(later)

    # Every order of a pair funded from the balance, then from the token account; the
    # order address is checked with the client's bump, so the cost no longer depends on it.
    from_balance, from_token, asks, bids, token_asks, token_bids = [], [], [], [], [], []
    for seller, buyer in zip(sellers, buyers):
        for trader, side, price, books, costs, balance in (
                (seller, ASK, 100_000, asks, from_balance, True), (buyer, BID, 120_000, bids, from_balance, True),
                (seller, ASK, 100_000, token_asks, from_token, False),
                (buyer, BID, 120_000, token_bids, from_token, False)):
            address, result = f.place(trader, side, price, ORDER_WH, from_balance=balance)
            books.append(address)
            costs.append(result.compute_units)
    out["trading.place_order.cu"] = max(from_balance)
    out["trading.place_order.cu_token_source"] = max(from_token)

    # Distinct buyers and sellers, proceeds credited to their balance accounts.
    fills = [Fill(bids[i], asks[i], buyers[i].pubkey, sellers[i].pubkey, 1, f.balance_account(buyers[i]),
                  f.balance_account(sellers[i])) for i in range(MAX_FILLS)]
    budget = set_compute_unit_limit(1_400_000)
    out["trading.settle_fills.cu_1_fill"] = f.chain.send([budget, f.trading.settle_fills(f.market, fills[:1])],
                                                         [f.matcher]).compute_units
    best, best_cu, best_bytes = _max_batch(f, fills, budget)
    out["trading.settle_fills.max_fills_per_tx"] = best
    out["trading.settle_fills.cu_max_batch"] = best_cu
    out["trading.settle_fills.cu_per_fill"] = round(best_cu / best)
    out["trading.settle_fills.max_batch_tx_bytes"] = best_bytes
    out["trading.settle_fills.max_fills_legacy_tx"] = _max_legacy(f, fills)

    # The same between token accounts: two token transfers per fill.
    token_fills = [Fill(token_bids[i], token_asks[i], buyers[i].pubkey, sellers[i].pubkey, 1) for i in range(MAX_FILLS)]
    best, best_cu, _ = _max_batch(f, token_fills, budget)
    out["trading.settle_fills.max_fills_per_tx_token_accounts"] = best
    out["trading.settle_fills.cu_per_fill_token_accounts"] = round(best_cu / best)

    # Netting: one seller's ask against many buyers' token accounts pays the seller once.
    big_seller = f.add_traders(1, grid_wh=10 * ORDER_WH, payment=0)[0]
    big_ask = f.ask(big_seller, 100_000, 10 * ORDER_WH)
    one_seller = [Fill(token_bids[i], big_ask, buyers[i].pubkey, big_seller.pubkey, 1) for i in range(MAX_FILLS)]
    best, best_cu, _ = _max_batch(f, one_seller, budget, extra=[big_ask, big_seller.payment_account])
    out["trading.settle_fills.max_fills_per_tx_one_seller"] = best
    out["trading.settle_fills.cu_per_fill_one_seller"] = round(best_cu / best)

    # The bids bought at the asks' 100,000 per kWh under their 120,000 limit: refund that.
    refund = f.trading.refund_improvement(f.market, [(token_bids[2], buyers[2].pubkey)])
    out["trading.refund_improvement.cu"] = f.chain.send([refund], [f.matcher]).compute_units

    seller = sellers[0]
    out["trading.cancel_order.cu"] = f.chain.send([f.trading.cancel_order(seller.pubkey, f.market, token_asks[0], ASK)],
                                                  [seller.wallet]).compute_units
    buyer = buyers[1]
    expiring, _ = f.place(buyer, BID, 100_000, 10, expires_at=CHAIN_TIME + 60)
    f.chain.set_time(CHAIN_TIME + 60)
    out["trading.expire_order.cu"] = f.chain.send([f.trading.expire_order(buyer.pubkey, f.market, expiring, BID)],
                                                  [f.matcher]).compute_units
    out["trading.withdraw.cu"] = f.chain.send([f.trading.withdraw(seller.pubkey, f.market, 1, side=BID)],
                                              [seller.wallet]).compute_units
    return out


def _deposit(f: Floor, trader, side: int, amount: int) -> int:
    return f.chain.send([f.trading.deposit(trader.pubkey, f.market, amount, side=side)], [trader.wallet]).compute_units


def _max_batch(f: Floor, fills: list[Fill], budget, extra=()) -> tuple[int, int, int]:
    """Largest batch of `fills` (prefix) that runs in one v0 transaction fitting a packet,
    its compute units and its size."""
    full = f.trading.settle_fills(f.market, fills)
    table = create_lookup_table(f.chain, f.authority, [m.pubkey for m in full.accounts] + list(extra))
    best, best_cu, best_bytes = 0, 0, 0
    for n in range(1, len(fills) + 1):
        batch = [budget, f.trading.settle_fills(f.market, fills[:n])]
        size = len(bytes(v0_transaction(f.chain, batch, [f.matcher], [table])))
        keys = {f.matcher.pubkey()} | {ix.program_id for ix in batch} | {m.pubkey for ix in batch for m in ix.accounts}
        if size > PACKET_BYTES or len(keys) > ACCOUNT_LOCKS:
            break  # LiteSVM would run it, a validator would not accept it
        result = send_v0(f.chain, batch, [f.matcher], [table], check=False)
        if not result.ok:
            break  # the runtime's limits (64 instructions including CPIs, 128 accounts) are reached
        best, best_cu, best_bytes = n, result.compute_units, size
    return best, best_cu, best_bytes


def _max_legacy(f: Floor, fills: list[Fill]) -> int:
    """Largest batch whose legacy transaction (no lookup table) fits one packet."""
    best = 0
    for n in range(1, len(fills) + 1):
        tx = Transaction.new_signed_with_payer([f.trading.settle_fills(f.market, fills[:n])], f.matcher.pubkey(),
                                               [f.matcher], f.chain.svm.latest_blockhash())
        if len(bytes(tx)) > PACKET_BYTES:
            break
        best = n
    return best


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.trading --token-program PATH`: the same metrics with another SPL
    Token build, e.g. p-token as written by `tools/p_token.py`."""
    import argparse
    from pathlib import Path

    from bench.__main__ import fmt

    p = argparse.ArgumentParser(prog="python -m bench.trading", description=main.__doc__)
    p.add_argument("--token-program", type=Path, required=True, metavar="PATH", help="SPL Token program ELF")
    args = p.parse_args(argv)
    for key, value in run(args.token_program.read_bytes()).items():
        print(f"{key:<52} {fmt(value):>8} {UNITS[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
