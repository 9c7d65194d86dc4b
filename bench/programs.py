"""Compute units per instruction of the registry and energy_token programs, in LiteSVM.

settle_and_mint is measured for batches of 1 to 16 meters of distinct owners.
`cu_per_meter` is the cost per meter in a full batch credited to the owners' User accounts
(no token CPI; `claim_production` mints later, one MintTo per owner for any number of
settlements); `cu_per_meter_token_accounts` the same batch minted to the owners' token
accounts (registry -> energy_token -> SPL Token MintTo per meter).
"""

from __future__ import annotations

import statistics

from solders.keypair import Keypair
from solders.transaction import Transaction

from aggregator.chain import PROSUMER, LocalChain, Registry
from aggregator.chain.registry import MAX_SETTLE_METERS
from common.wire import PACKET_BYTES

UNITS = {
    key: "CU" for key in (
        "registry.initialize.cu", "energy_token.initialize.cu", "registry.register_user.cu",
        "registry.register_meter.cu", "registry.submit_readings.cu", "registry.settle_and_mint.cu_1_meter",
        "registry.settle_and_mint.cu_per_meter", "registry.settle_and_mint.cu_per_meter_token_accounts",
        "registry.settle_and_mint.cu_1_meter_token_account", "registry.claim_production.cu",
        "registry.rotate_meter_key.cu", "energy_token.burn.cu", "registry.deactivate_meter.cu",
    )
} | {"registry.settle_and_mint.max_meters_per_tx": "meters"}
GOALS = {
    "registry.settle_and_mint.cu_per_meter": "goal <= 3,000, full batch into User accounts",
    "registry.settle_and_mint.cu_per_meter_token_accounts": "goal <= 10,000 (classic SPL Token MintTo alone: 4,492)",
    "registry.settle_and_mint.cu_1_meter_token_account": "goal <= 10,000",
}


def _median(samples: list[int]) -> int:
    return int(statistics.median(samples))


def run() -> dict[str, float]:
    registry = Registry()
    token = registry.token
    chain = LocalChain([registry.program, token.program])
    authority, oracle = chain.deployer(), chain.new_funded_keypair()
    out: dict[str, float] = {}
    out["registry.initialize.cu"] = chain.send([registry.initialize(authority.pubkey(), oracle.pubkey())],
                                               [authority]).compute_units
    out["energy_token.initialize.cu"] = chain.send([token.initialize(authority.pubkey())], [authority]).compute_units

    users, meters, owners = [], [], {}
    for i in range(MAX_SETTLE_METERS):
        wallet, meter_id = chain.new_funded_keypair(), f"BENCH-{i:04d}"
        users.append(chain.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet]).compute_units)
        ix = registry.register_meter(wallet.pubkey(), meter_id, bytes(Keypair().pubkey()), "bench")
        meters.append(chain.send([ix], [wallet]).compute_units)
        chain.send([token.create_token_account(wallet.pubkey(), wallet.pubkey())], [wallet])
        owners[meter_id] = wallet
    # PDA bump search makes these vary with the address: report the median.
    out["registry.register_user.cu"] = _median(users)
    out["registry.register_meter.cu"] = _median(meters)

    submits, reading_at = [], 1
    settle_cu: dict[tuple[int, bool], int] = {}
    for to_user in (False, True):
        for n in (1, 2, 4, 8, MAX_SETTLE_METERS):
            batch = list(owners)[:n]
            for meter_id in batch:
                ix = registry.submit_readings(oracle.pubkey(), meter_id, reading_at * 1_000, 0, reading_at)
                submits.append(chain.send([ix], [oracle]).compute_units)
            reading_at += 1
            ix = registry.settle_and_mint([(m, owners[m].pubkey()) for m in batch], to_user_account=to_user)
            settle_cu[n, to_user] = chain.send([ix], [authority]).compute_units
    out["registry.submit_readings.cu"] = _median(submits)
    out["registry.settle_and_mint.cu_1_meter"] = settle_cu[1, True]
    out["registry.settle_and_mint.cu_per_meter"] = round(settle_cu[MAX_SETTLE_METERS, True] / MAX_SETTLE_METERS)
    out["registry.settle_and_mint.cu_1_meter_token_account"] = settle_cu[1, False]
    out["registry.settle_and_mint.cu_per_meter_token_accounts"] = round(
        settle_cu[MAX_SETTLE_METERS, False] / MAX_SETTLE_METERS)
    claimant = owners[next(iter(owners))]
    out["registry.claim_production.cu"] = chain.send([registry.claim_production(claimant.pubkey())],
                                                     [claimant]).compute_units
    out["registry.settle_and_mint.max_meters_per_tx"] = _max_meters_per_packet(chain, registry, owners, authority)

    any_meter, owner = next(iter(owners.items()))
    out["registry.rotate_meter_key.cu"] = chain.send(
        [registry.rotate_meter_key(owner.pubkey(), any_meter, bytes(Keypair().pubkey()))], [owner]).compute_units
    out["energy_token.burn.cu"] = chain.send([token.burn(owner.pubkey(), 1)], [owner]).compute_units
    out["registry.deactivate_meter.cu"] = chain.send([registry.deactivate_meter(owner.pubkey(), any_meter)],
                                                     [owner]).compute_units
    return out


def _max_meters_per_packet(chain: LocalChain, registry: Registry, owners: dict, payer: Keypair) -> int:
    """Largest settle_and_mint batch whose legacy transaction fits one packet."""
    best = 0
    for n in range(1, MAX_SETTLE_METERS + 1):
        ix = registry.settle_and_mint([(m, owners[m].pubkey()) for m in list(owners)[:n]])
        tx = Transaction.new_signed_with_payer([ix], payer.pubkey(), [payer], chain.svm.latest_blockhash())
        if len(bytes(tx)) <= PACKET_BYTES:
            best = n
    return best
