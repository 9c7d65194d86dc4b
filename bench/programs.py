"""Compute units per instruction of the on-chain programs, measured in LiteSVM."""

from __future__ import annotations

from solders.keypair import Keypair

from aggregator.chain import PROSUMER, LocalChain, Registry

UNITS = {
    "registry.initialize.cu": "CU",
    "registry.register_user.cu": "CU",
    "registry.register_meter.cu": "CU",
}


def run() -> dict[str, float]:
    registry = Registry()
    chain = LocalChain([registry.program])
    authority = chain.new_funded_keypair()
    init = chain.send([registry.initialize(authority.pubkey(), Keypair().pubkey())], [authority])
    samples_user, samples_meter = [], []
    for i in range(20):
        wallet = chain.new_funded_keypair()
        samples_user.append(chain.send([registry.register_user(wallet.pubkey(), PROSUMER)], [wallet]).compute_units)
        ix = registry.register_meter(wallet.pubkey(), f"BENCH-{i:04d}", bytes(Keypair().pubkey()), "bench")
        samples_meter.append(chain.send([ix], [wallet]).compute_units)
    # PDA bump search makes CU vary with the address; report the median.
    return {
        "registry.initialize.cu": init.compute_units,
        "registry.register_user.cu": sorted(samples_user)[len(samples_user) // 2],
        "registry.register_meter.cu": sorted(samples_meter)[len(samples_meter) // 2],
    }
