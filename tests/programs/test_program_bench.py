"""The registry and trading benchmarks report every metric they declare, and the measured
numbers meet the programs' goals with classic SPL Token: settle_and_mint <= 3,000 CU per
meter in a full batch credited to User accounts (<= 10,000 minted to token accounts); settle_fills <= 5,000 CU per fill between distinct traders and >= 8 fills in one
transaction that fits a packet (the public GridTokenX Anchor programs: 103,363 CU and one
fill per transaction); place_order <= 5,000 CU in the worst case measured."""

from __future__ import annotations

import re

from aggregator.chain import Registry
from aggregator.chain.trading import MAX_FILLS
from bench import programs as programs_bench
from bench import trading as trading_bench

PACKET_BYTES = 1232


def _instruction_names(gtx) -> list[str]:
    return [re.sub(r"(?<!^)(?=[A-Z])", "_", ix["name"]).lower() for ix in gtx.idl_json["instructions"]]


def test_registry_bench_meets_the_settlement_goal():
    result = programs_bench.run()
    assert set(result) == set(programs_bench.UNITS)
    registry = Registry()
    # every instruction a client sends is measured (mint_from_production only runs inside settle_and_mint)
    for name in _instruction_names(registry.program):
        assert any(key.startswith(f"registry.{name}.") for key in result), name
    for name in set(_instruction_names(registry.token.program)) - {"mint_from_production"}:
        assert any(key.startswith(f"energy_token.{name}.") for key in result), name
    assert 0 < result["registry.initialize.cu"] < 10_000
    assert 0 < result["registry.register_user.cu"] < 20_000
    assert result["registry.settle_and_mint.cu_per_meter"] <= 3_000
    assert result["registry.settle_and_mint.cu_1_meter"] <= 3_000
    assert result["registry.settle_and_mint.cu_per_meter_token_accounts"] <= 10_000
    assert result["registry.settle_and_mint.cu_1_meter_token_account"] <= 10_000
    assert result["registry.claim_production.cu"] <= 10_000
    assert result["registry.settle_and_mint.max_meters_per_tx"] >= 8


def test_trading_bench_meets_the_fill_goals():
    result = trading_bench.run()
    assert set(result) == set(trading_bench.UNITS)
    for key in trading_bench.GOALS:
        assert key in trading_bench.UNITS, key
    # Distinct buyers and sellers, proceeds credited to their balance accounts in the market.
    assert result["trading.settle_fills.cu_per_fill"] <= 5_000
    assert result["trading.place_order.cu"] <= 5_000  # the worst of 96 orders funded from balances
    assert 8 <= result["trading.settle_fills.max_fills_per_tx"] <= MAX_FILLS
    assert result["trading.settle_fills.max_batch_tx_bytes"] <= PACKET_BYTES
    assert result["trading.settle_fills.cu_max_batch"] <= 1_400_000
    # Paying token accounts stays within the former goal, and netting still pays off.
    assert result["trading.settle_fills.cu_per_fill_token_accounts"] <= 15_000
    assert 8 <= result["trading.settle_fills.max_fills_per_tx_token_accounts"] <= MAX_FILLS
    assert result["trading.settle_fills.cu_per_fill_one_seller"] <= result["trading.settle_fills.cu_per_fill_token_accounts"]
    # A token account as the order's source costs one token transfer more, and no bump search.
    assert result["trading.place_order.cu"] < result["trading.place_order.cu_token_source"] <= 10_000
    # Nothing dearer than the figures the programs' README records (classic SPL Token).
    assert result["trading.cancel_order.cu"] <= 6_649
    assert result["trading.expire_order.cu"] <= 6_818
    assert result["trading.refund_improvement.cu"] <= 6_658
