"""Helpers for the trading program's tests: the floor of :mod:`devservers.trading_floor`,
error expectations and account tampering, and the ``floor`` fixture."""

from __future__ import annotations

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from aggregator.chain import TxResult
from devservers.trading_floor import CHAIN_TIME, FEE_BPS, LOT_WH, TICK, Floor, Trader

__all__ = ["CHAIN_TIME", "FEE_BPS", "LOT_WH", "TICK", "Floor", "Trader", "expect_error", "floor", "replace_account"]


def expect_error(result: TxResult, code: int, name: str) -> None:
    assert not result.ok, "transaction unexpectedly succeeded"
    assert (result.custom_code, result.error_name) == (code, name), (result.error, result.logs[-6:])


def replace_account(ix: Instruction, index: int, pubkey: Pubkey | None = None, *, signer: bool | None = None,
                    writable: bool | None = None) -> Instruction:
    """The same instruction with account `index` swapped or its flags changed."""
    metas = list(ix.accounts)
    m = metas[index]
    metas[index] = AccountMeta(pubkey or m.pubkey, m.is_signer if signer is None else signer,
                               m.is_writable if writable is None else writable)
    return Instruction(ix.program_id, ix.data, metas)


@pytest.fixture
def floor() -> Floor:
    """A continuous market with four traders (10 kWh GRID and 1,000,000 payment units each)."""
    f = Floor.create()
    f.open_market()
    f.add_traders(4, grid_wh=10_000, payment=1_000_000)
    return f
