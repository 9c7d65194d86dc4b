"""Compute units per instruction of the trading program, in LiteSVM (classic SPL Token).

settle_fills is measured between distinct buyers and sellers — the worst case for netting,
two token transfers per fill plus one fee transfer per batch — in v0 transactions whose
accounts come from an address lookup table, and with one seller's ask filling many bids
(the seller is paid once per batch). `max_fills_per_tx` is the largest such batch that
executes in one transaction and fits a 1,232-byte packet; `max_fills_legacy_tx` the
largest that fits a legacy (no lookup table) transaction's packet.
"""

from __future__ import annotations

import statistics

from solders.compute_budget import set_compute_unit_limit
from solders.transaction import Transaction

from aggregator.chain.trading import ASK, BID, MAX_FILLS, Fill, create_lookup_table, send_v0, v0_transaction
from tests.programs.trading_helpers import CHAIN_TIME, Floor

PACKET_BYTES = 1232
ORDER_WH = 1_000

UNITS = {
    key: "CU" for key in (
        "trading.initialize_market.cu", "trading.place_order.cu", "trading.cancel_order.cu",
        "trading.expire_order.cu", "trading.refund_improvement.cu", "trading.settle_fills.cu_1_fill", "trading.settle_fills.cu_per_fill",
        "trading.settle_fills.cu_per_fill_one_seller", "trading.settle_fills.cu_max_batch",
    )
} | {"trading.settle_fills.max_fills_per_tx": "fills", "trading.settle_fills.max_fills_per_tx_one_seller": "fills",
     "trading.settle_fills.max_fills_legacy_tx": "fills",
     "trading.settle_fills.max_batch_tx_bytes": "bytes"}
GOALS = {
    "trading.settle_fills.cu_per_fill": "goal <= 15,000 (public GridTokenX Anchor: 103,363)",
    "trading.settle_fills.max_fills_per_tx": "goal >= 8 (public GridTokenX Anchor: 1)",
    "trading.settle_fills.max_batch_tx_bytes": "packet limit 1,232",
}


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    f = Floor.create()
    ix = f.trading.initialize_market(f.authority.pubkey(), f.payment_mint, f.fee_account, matcher=f.matcher.pubkey(),
                                     fee_bps=25, lot_size_wh=1, tick_size=1_000)
    out["trading.initialize_market.cu"] = f.chain.send([ix], [f.authority]).compute_units
    market = f.trading.market_address(f.authority.pubkey(), f.payment_mint, 0)
    f.market = f.trading.market_ref(f.chain, market)
    sellers = f.add_traders(MAX_FILLS, grid_wh=ORDER_WH, payment=0)
    buyers = f.add_traders(MAX_FILLS, grid_wh=0, payment=1_000_000)

    place_cu, asks, bids = [], [], []
    for seller, buyer in zip(sellers, buyers):
        address, result = f.place(seller, ASK, 100_000, ORDER_WH)
        asks.append(address)
        place_cu.append(result.compute_units)
        address, result = f.place(buyer, BID, 120_000, ORDER_WH)
        bids.append(address)
        place_cu.append(result.compute_units)
    # The order PDA's bump search makes this vary with the address: report the median.
    out["trading.place_order.cu"] = int(statistics.median(place_cu))

    fills = [Fill(bids[i], asks[i], buyers[i].pubkey, sellers[i].pubkey, 1) for i in range(MAX_FILLS)]
    budget = set_compute_unit_limit(1_400_000)
    out["trading.settle_fills.cu_1_fill"] = f.chain.send([budget, f.trading.settle_fills(f.market, fills[:1])],
                                                         [f.matcher]).compute_units
    full = f.trading.settle_fills(f.market, fills)
    table = create_lookup_table(f.chain, f.authority, [m.pubkey for m in full.accounts])
    best, best_cu, best_bytes = 0, 0, 0
    for n in range(1, MAX_FILLS + 1):
        batch = [budget, f.trading.settle_fills(f.market, fills[:n])]
        size = len(bytes(v0_transaction(f.chain, batch, [f.matcher], [table])))
        if size > PACKET_BYTES:
            break  # LiteSVM would run it, a validator would not accept the packet
        result = send_v0(f.chain, batch, [f.matcher], [table], check=False)
        if not result.ok:
            break  # the runtime's limits (64 instructions including CPIs, 128 accounts) are reached
        best, best_cu, best_bytes = n, result.compute_units, size
    out["trading.settle_fills.max_fills_per_tx"] = best
    out["trading.settle_fills.cu_max_batch"] = best_cu
    out["trading.settle_fills.cu_per_fill"] = round(best_cu / best)
    out["trading.settle_fills.max_batch_tx_bytes"] = best_bytes
    out["trading.settle_fills.max_fills_legacy_tx"] = _max_legacy(f, fills)

    # Netting: one seller's ask against many buyers pays the seller once per batch.
    big_seller = f.add_traders(1, grid_wh=10 * ORDER_WH, payment=0)[0]
    big_ask = f.ask(big_seller, 100_000, 10 * ORDER_WH)
    one_seller = [Fill(bids[i], big_ask, buyers[i].pubkey, big_seller.pubkey, 1) for i in range(MAX_FILLS)]
    table2 = create_lookup_table(f.chain, f.authority, [big_ask, big_seller.payment_account])
    best, best_cu = 0, 0
    for n in range(1, MAX_FILLS + 1):
        batch = [budget, f.trading.settle_fills(f.market, one_seller[:n])]
        if len(bytes(v0_transaction(f.chain, batch, [f.matcher], [table, table2]))) > PACKET_BYTES:
            break
        result = send_v0(f.chain, batch, [f.matcher], [table, table2], check=False)
        if not result.ok:
            break
        best, best_cu = n, result.compute_units
    out["trading.settle_fills.max_fills_per_tx_one_seller"] = best
    out["trading.settle_fills.cu_per_fill_one_seller"] = round(best_cu / best)

    # The bids bought at the asks' 100,000 per kWh under their 120,000 limit: refund that.
    refund = f.trading.refund_improvement(f.market, [(bids[2], buyers[2].pubkey)])
    out["trading.refund_improvement.cu"] = f.chain.send([refund], [f.matcher]).compute_units

    seller = sellers[0]
    out["trading.cancel_order.cu"] = f.chain.send([f.trading.cancel_order(seller.pubkey, f.market, asks[0], ASK)],
                                                  [seller.wallet]).compute_units
    buyer = buyers[1]
    expiring, _ = f.place(buyer, BID, 100_000, 10, expires_at=CHAIN_TIME + 60)
    f.chain.set_time(CHAIN_TIME + 60)
    out["trading.expire_order.cu"] = f.chain.send([f.trading.expire_order(buyer.pubkey, f.market, expiring, BID)],
                                                  [f.matcher]).compute_units
    return out


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
