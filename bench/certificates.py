"""Compute units per instruction of the certificates program, in LiteSVM.

`issue` creates the certificate PDA (system-program CPI) after a PDA bump search whose
cost depends on the address, so it is the median over many certificates; a meter's first
certificate also creates its issuance tracker (`issue.cu_first_for_meter`).
"""

from __future__ import annotations

import statistics

from solders.keypair import Keypair

from aggregator.chain import PROSUMER, LocalChain, Registry
from aggregator.chain.certificates import Certificates, IssueRequest

T0 = 1_767_225_600
VALIDITY_SECS = 365 * 24 * 3_600
SAMPLES = 16

INSTRUCTIONS = ("initialize", "update_config", "issue", "validate", "transfer", "retire", "revoke", "expire")
UNITS = {f"certificates.{name}.cu": "CU" for name in INSTRUCTIONS} | {"certificates.issue.cu_first_for_meter": "CU"}
GOALS = {"certificates.issue.cu": "reference: Anchor no-op 648 CU; PDA derivation ~5,000"}


def _median(samples: list[int]) -> int:
    return int(statistics.median(samples))


def run() -> dict[str, float]:
    registry = Registry()
    certs = Certificates(registry_program_id=registry.program_id)
    chain = LocalChain([registry.program, registry.token.program, certs.program], unix_timestamp=T0)
    authority, oracle, issuer = chain.deployer(), chain.new_funded_keypair(), chain.new_funded_keypair()
    chain.send([registry.initialize(authority.pubkey(), oracle.pubkey())], [authority])
    cu: dict[str, list[int]] = {name: [] for name in INSTRUCTIONS}
    cu["issue_first"] = []
    cu["initialize"].append(chain.send([certs.initialize(authority.pubkey(), issuer.pubkey(), VALIDITY_SECS)],
                                       [authority]).compute_units)
    cu["update_config"].append(chain.send([certs.update_config(authority.pubkey(), issuer.pubkey(), VALIDITY_SECS)],
                                          [authority]).compute_units)

    owner, meter_id = chain.new_funded_keypair(), "BENCH-ERC"
    chain.send([registry.register_user(owner.pubkey(), PROSUMER),
                registry.register_meter(owner.pubkey(), meter_id, bytes(Keypair().pubkey()), "bench")], [owner])
    chain.send([registry.submit_readings(oracle.pubkey(), meter_id, 1_000_000, 0, T0)], [oracle])
    addresses = []
    meter = certs.meter_address(meter_id)
    for seq in range(4 * SAMPLES + 1):
        request = IssueRequest(meter_id, T0 - 100_000 + seq * 100, T0 - 100_000 + (seq + 1) * 100, 1_000)
        result = chain.send([certs.issue(owner.pubkey(), request, seq)], [owner])
        cu["issue_first" if seq == 0 else "issue"].append(result.compute_units)
        addresses.append(certs.certificate_address(meter, seq))
    buyer = chain.new_funded_keypair()
    for address in addresses:
        cu["validate"].append(chain.send([certs.validate(issuer.pubkey(), address)], [issuer]).compute_units)
    groups = [addresses[i:i + SAMPLES] for i in range(1, len(addresses), SAMPLES)]
    for address in groups[0]:
        transfer = certs.transfer(owner.pubkey(), address, buyer.pubkey())
        cu["transfer"].append(chain.send([transfer], [owner]).compute_units)
        cu["retire"].append(chain.send([certs.retire(buyer.pubkey(), address)], [buyer]).compute_units)
    for address in groups[1]:
        cu["revoke"].append(chain.send([certs.revoke(issuer.pubkey(), address, 1)], [issuer]).compute_units)
    chain.set_time(T0 + VALIDITY_SECS)
    for address in groups[2]:
        cu["expire"].append(chain.send([certs.expire(address)], [buyer]).compute_units)

    out = {f"certificates.{name}.cu": float(_median(cu[name])) for name in INSTRUCTIONS}
    out["certificates.issue.cu_first_for_meter"] = float(cu["issue_first"][0])
    return out
