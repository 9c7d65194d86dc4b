"""Order ids in sequence: traders who prepare at the same moment get successive ids, a
later order relayed first waits for the earlier one, and an abandoned id is handed out
again once its reservation lapses."""

from __future__ import annotations

import asyncio
import time

from solders.pubkey import Pubkey

from aggregator.actions.sequencer import OrderSequencer
from tests.aggregator.agg_trading_helpers import Floor, floor  # noqa: F401  (fixture)
from tests.aggregator.test_agg_actions import sign
from tests.aggregator.test_agg_minter import wait_for


async def test_concurrent_prepares_land_in_any_relay_order(floor: Floor) -> None:
    a, b = floor.consumer(), floor.consumer()

    async def prepare(wallet) -> dict:  # noqa: ANN001
        resp = await floor.http.post(f"/api/actions/markets/{floor.market}/order", json={"account": str(wallet.pubkey())},
                                     params={"side": "buy", "price_per_kwh_micro": 50_000, "energy_wh": 1_000})
        assert resp.status_code == 200, resp.text
        return resp.json()

    first, second = await prepare(a), await prepare(b)
    assert first["order_address"] != second["order_address"]  # successive ids, not the same one twice

    async def relay(wallet, prepared: dict) -> int:  # noqa: ANN001
        resp = await floor.http.post("/api/transactions", json={"transaction": sign(wallet, prepared["transaction"])})
        return resp.status_code

    # The second is relayed first: it waits for the first, then both land.
    later = asyncio.create_task(relay(b, second))
    await asyncio.sleep(0.05)
    assert not later.done()
    assert await relay(a, first) == 201
    assert await later == 201
    assert floor.order_on_chain(first["order_address"]) and floor.order_on_chain(second["order_address"])
    await wait_for(lambda: floor._indexed(second["order_address"]))


def test_an_abandoned_id_is_handed_out_again_after_its_reservation_lapses() -> None:
    seq, market = OrderSequencer(hold_s=0.05), Pubkey.new_unique()
    assert [seq.reserve(market, 7), seq.reserve(market, 7)] == [7, 8]
    seq.release(market, 8)  # that prepare failed
    assert seq.reserve(market, 7) == 8
    time.sleep(0.06)  # nobody sent id 7 (nor 8): the chain still expects 7
    assert seq.reserve(market, 7) == 7
    assert seq.reserve(market, 9) == 9  # the chain moved on: reservations below it are gone


def test_the_service_container_imports_on_its_own() -> None:
    """The container imports the sequencer; nothing may import back into it half-built."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for module in ("aggregator.services", "aggregator.deps", "aggregator.actions.sequencer"):
        done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=root, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (module, done.stderr[-2000:])
