"""What happened, read back: the aggregator's records next to the chain's own state.

The chain is read directly (accounts decoded from the in-process LiteSVM), not through the
aggregator, so the balance check compares two independent records of the same mints.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, token_amount
from aggregator.chain.connect import Chain
from aggregator.chain.programs import from_label
from demo.feed import grid

__all__ = ["Outcome", "print_accounts", "settle_report"]


@dataclass
class Outcome:
    accepted: int
    rejected: int
    due_wh: int  # GRID due under the mint rule: signed export of the accepted readings
    chain_balance_wh: int  # the owner's GRID token account, in base units (Wh)
    aggregator_minted_wh: int  # /api/users/{wallet}/balance

    @property
    def agrees(self) -> bool:
        return self.chain_balance_wh == self.aggregator_minted_wh == self.due_wh


def print_accounts(
    chain: Chain, meter_id: str, owners: list[Keypair], device_key: bytes, prosumer: Keypair
) -> list[str]:
    """Print the registry's config, users and meter from chain state; returns mismatches."""
    reg, local = chain.registry, chain.local
    assert local is not None
    problems = []
    config = local.account(reg.config_address())
    if config is None:
        return ["the registry is not initialised on chain"]
    cfg = reg.decode(config.data)
    print(f"   config  {reg.config_address()}: authority {cfg.authority}, oracle {cfg.oracle_authority}, "
          f"users {cfg.user_count}, meters {cfg.meter_count}")
    for owner in owners:
        address = reg.user_address(owner.pubkey())
        account = local.account(address)
        if account is None:
            problems.append(f"user {owner.pubkey()} is not on chain")
            continue
        user = reg.decode(account.data)
        print(f"   user    {address}: wallet {user.wallet}, "
              f"type {'prosumer' if user.user_type == PROSUMER else 'consumer'}, meters {user.meter_count}, "
              f"registered_at {user.registered_at}")
    account = local.account(reg.meter_address(meter_id))
    if account is None:
        return [*problems, f"meter {meter_id} is not on chain"]
    meter = reg.decode(account.data)
    print(f"   meter   {reg.meter_address(meter_id)}: id {from_label(meter.meter_id)}, owner {meter.owner}, "
          f"location {from_label(meter.location)}, status {'active' if meter.status == 1 else meter.status}")
    print(f"           device key {bytes(meter.device_key).hex()}")
    print(f"           production {meter.total_production_wh:,} Wh, consumption {meter.total_consumption_wh:,} Wh, "
          f"settled production {meter.settled_production_wh:,} Wh")
    if bytes(meter.device_key) != device_key or meter.owner != prosumer.pubkey():
        problems.append("the meter's device key or owner on chain is not what was registered")
    return problems


async def settle_report(client: httpx.AsyncClient, chain: Chain, meter_id: str, prosumer: Keypair) -> Outcome:
    """Print readings, mints and balances; the caller decides on :attr:`Outcome.agrees`."""
    readings = (await client.get(f"/api/meters/{meter_id}/readings", params={"limit": 1000})).json()
    rejections = (await client.get(f"/api/meters/{meter_id}/rejections", params={"limit": 1000})).json()
    mints = (await client.get("/api/mints", params={"meter_id": meter_id, "limit": 1000})).json()
    wallet = str(prosumer.pubkey())
    balance = (await client.get(f"/api/users/{wallet}/balance")).json()

    exported = sum(r["production_wh"] for r in readings)
    imported = sum(r["consumption_wh"] for r in readings)
    seqs = sorted(r["seq"] for r in readings)
    span = f" (seq {seqs[0]}..{seqs[-1]}, {sum(r['minted'] for r in readings)} minted)" if seqs else ""
    print(f"   readings stored     {len(readings)} accepted, {len(rejections)} rejected{span}")
    for rej in rejections:
        print(f"                       rejected seq {rej['seq']}: {rej['reason']} {rej['detail'] or ''}")
    audit = (await client.get(f"/api/meters/{meter_id}/reconciliation")).json()
    print(f"   energy              exported {exported:,} Wh, imported {imported:,} Wh (first reading is the baseline)")
    print(f"   mint rule           GRID due {audit['due_wh']:,} Wh = signed export, imports never netted "
          f"(/api/meters/{meter_id}/reconciliation: minted {audit['minted_wh']:,}, "
          f"difference {audit['difference_wh']:,})")
    txs = {b["tx_signature"] for b in mints if b["tx_signature"]}
    states = sorted({b["state"] for b in mints})
    print(f"   mint batches        {len(mints)} ({', '.join(states) or 'none'}), {len(txs)} chain transactions")

    token_account = chain.registry.token.token_account(prosumer.pubkey())
    assert chain.local is not None
    account = chain.local.account(token_account)
    on_chain = 0 if account is None else token_amount(account.data)
    print(f"   GRID on chain       {on_chain:,} Wh = {grid(on_chain)}  (token account {token_account})")
    print(f"   GRID by aggregator  {balance['minted_wh']:,} Wh = {grid(balance['minted_wh'])}  "
          f"(/api/users/{wallet}/balance; pending production {balance['pending_production_wh']:,} Wh, "
          f"consumption {balance['pending_consumption_wh']:,} Wh)")
    return Outcome(len(readings), len(rejections), audit["due_wh"], on_chain, balance["minted_wh"])
