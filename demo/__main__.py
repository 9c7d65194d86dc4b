"""GridTokenX demo on embedded defaults: the real programs executed by LiteSVM in-process.

Registers the registry authority and oracle, a prosumer, and that prosumer's meter with a
freshly generated Ed25519 device key, then reads every account back from chain state and
prints it with the events and compute units of each transaction.
"""

from __future__ import annotations

import argparse
import sys

from nacl.signing import SigningKey
from solders.keypair import Keypair

from aggregator.chain import PROSUMER, LocalChain, Registry, TxResult
from aggregator.chain.programs import from_label


def step(title: str) -> None:
    print(f"\n== {title}")


def show_tx(registry: Registry, result: TxResult) -> None:
    print(f"   tx {result.signature[:20]}...  {result.compute_units:,} CU")
    for event in registry.program.decode_events(result.logs):
        print(f"   event {event.name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./gtx demo", description=__doc__)
    p.add_argument("--meter-id", default="MTR-001", help="meter id to register (1-32 printable ASCII)")
    p.add_argument("--location", default="TH-BKK-Sukhumvit-01", help="meter location label (<= 32 bytes)")
    args = p.parse_args(argv)

    registry = Registry()
    step("chain: LiteSVM in-process with the built programs")
    chain = LocalChain([registry.program])
    print(f"   registry {registry.program_id}  ({registry.program.so_path.stat().st_size:,} bytes)")

    step("initialize the registry")
    authority, oracle = chain.new_funded_keypair(), Keypair()
    show_tx(registry, chain.send([registry.initialize(authority.pubkey(), oracle.pubkey())], [authority]))

    step("register a prosumer")
    prosumer = chain.new_funded_keypair()
    show_tx(registry, chain.send([registry.register_user(prosumer.pubkey(), PROSUMER)], [prosumer]))

    step(f"register meter {args.meter_id} with a new device key")
    device = SigningKey.generate()
    device_key = bytes(device.verify_key)
    print(f"   device public key {device_key.hex()}")
    ix = registry.register_meter(prosumer.pubkey(), args.meter_id, device_key, args.location)
    show_tx(registry, chain.send([ix], [prosumer]))

    step("read back from chain state")
    cfg = registry.decode(chain.account(registry.config_address()).data)
    user = registry.decode(chain.account(registry.user_address(prosumer.pubkey())).data)
    meter = registry.decode(chain.account(registry.meter_address(args.meter_id)).data)
    print(f"   config  {registry.config_address()}: authority {cfg.authority}, oracle {cfg.oracle_authority}, "
          f"users {cfg.user_count}, meters {cfg.meter_count}")
    print(f"   user    {registry.user_address(prosumer.pubkey())}: wallet {user.wallet}, "
          f"type {'prosumer' if user.user_type == PROSUMER else 'consumer'}, meters {user.meter_count}, "
          f"registered_at {user.registered_at}")
    print(f"   meter   {registry.meter_address(args.meter_id)}: id {from_label(meter.meter_id)}, owner {meter.owner}, "
          f"location {from_label(meter.location)}, status {'active' if meter.status == 1 else meter.status}")
    print(f"           device key {bytes(meter.device_key).hex()}")
    if bytes(meter.device_key) != device_key or meter.owner != prosumer.pubkey():
        print("error: chain state does not match what was registered", file=sys.stderr)
        return 1
    print("\nok: user and meter registered and read back from chain state")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
