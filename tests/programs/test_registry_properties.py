"""Properties of settlement over random operation sequences, and fuzzed instructions.

* No double mint, and the mint rule: after any sequence of readings and settlements, each
  owner's GRID equals the meter's settled production, the production counter at its last
  settlement (imports never reduce it), and the total supply is the sum of those.
* Fuzzed instruction data and account lists get typed errors: never a panic or an access
  violation, and never tokens out of thin air.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID

from aggregator.chain import PROSUMER, LocalChain, Registry, mint_supply, token_amount
from tools.idl.gen import Interface, type_size

METERS = ("P0", "P1", "P2")
REGISTRY = Registry()


@dataclass
class World:
    chain: LocalChain
    oracle: Keypair
    payer: Keypair
    owners: dict[str, Keypair]
    production: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METERS, 0))
    consumption: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METERS, 0))
    watermark: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METERS, 0))
    clock: int = 0


def new_world() -> World:
    chain = LocalChain([REGISTRY.program, REGISTRY.token.program], unix_timestamp=1_767_225_600)
    authority, oracle = chain.deployer(), Keypair()
    chain.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                REGISTRY.token.initialize(authority.pubkey())], [authority])
    owners = {}
    for meter_id in METERS:
        wallet = chain.new_funded_keypair()
        chain.send([REGISTRY.register_user(wallet.pubkey(), PROSUMER),
                    REGISTRY.register_meter(wallet.pubkey(), meter_id, bytes(32), "prop"),
                    REGISTRY.token.create_token_account(wallet.pubkey(), wallet.pubkey())], [wallet])
        owners[meter_id] = wallet
    return World(chain, oracle, authority, owners)


def check_invariants(w: World) -> None:
    supply = mint_supply(w.chain.account(REGISTRY.token.mint_address()).data)
    assert supply == sum(w.watermark.values())
    for meter_id, owner in w.owners.items():
        meter = REGISTRY.decode(w.chain.account(REGISTRY.meter_address(meter_id)).data)
        grid = token_amount(w.chain.account(REGISTRY.token.token_account(owner.pubkey())).data)
        assert meter.settled_production_wh == w.watermark[meter_id] == grid
        assert (meter.total_production_wh, meter.total_consumption_wh) == (w.production[meter_id], w.consumption[meter_id])
    config = REGISTRY.token.decode(w.chain.account(REGISTRY.token.config_address()).data)
    assert config.total_minted_wh == supply


readings = st.tuples(st.just("read"), st.sampled_from(METERS), st.integers(0, 50_000), st.integers(0, 50_000))
settles = st.tuples(st.just("settle"), st.lists(st.sampled_from(METERS), min_size=1, max_size=3, unique=True))
rollbacks = st.tuples(st.just("decrease"), st.sampled_from(METERS), st.integers(1, 1_000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(readings, settles, rollbacks), min_size=1, max_size=25))
def test_minted_grid_always_equals_settled_production(ops):
    w = new_world()
    for op in ops:
        if op[0] == "read":
            _, m, d_prod, d_cons = op
            w.clock += 1
            w.production[m] += d_prod
            w.consumption[m] += d_cons
            w.chain.send([REGISTRY.submit_readings(w.oracle.pubkey(), m, w.production[m], w.consumption[m], w.clock)],
                         [w.oracle], payer=w.payer)
        elif op[0] == "settle":
            _, batch = op
            # settling twice in one transaction is a retry: it must not mint twice
            ix = REGISTRY.settle_and_mint([(m, w.owners[m].pubkey()) for m in batch])
            w.chain.send([ix, ix], [w.payer])
            for m in batch:
                w.watermark[m] = w.production[m]
        else:
            _, m, by = op
            lower = max(w.production[m] - by, 0)
            result = w.chain.send([REGISTRY.submit_readings(w.oracle.pubkey(), m, lower, w.consumption[m], w.clock)],
                                  [w.oracle], payer=w.payer, check=False)
            assert result.ok == (lower == w.production[m])
        check_invariants(w)


# --- fuzzing --------------------------------------------------------------------------------

FUZZ_WORLD = new_world()
KNOWN_ACCOUNTS = [
    REGISTRY.config_address(), REGISTRY.minter_address(), REGISTRY.token.config_address(),
    REGISTRY.token.mint_address(), REGISTRY.token.mint_authority(), TOKEN_PROGRAM_ID, Pubkey.default(),
    REGISTRY.program_id, REGISTRY.token.program_id, FUZZ_WORLD.payer.pubkey(), Keypair().pubkey(),
    *(REGISTRY.meter_address(m) for m in METERS),
    *(REGISTRY.user_address(o.pubkey()) for o in FUZZ_WORLD.owners.values()),
    *(REGISTRY.token.token_account(o.pubkey()) for o in FUZZ_WORLD.owners.values()),
]

def _instruction_shapes():
    """(program id, discriminator, argument bytes, account count) of every instruction."""
    shapes = []
    for gtx in (REGISTRY.program, REGISTRY.token.program):
        spec = Interface.load(gtx.name).spec
        for ix in spec["instructions"]:
            disc = hashlib.sha256(f"global:{ix['name']}".encode()).digest()[:8]
            fixed = [a for a in ix.get("args", []) if a["type"] != "vec<u64>"]
            size = sum(type_size(a["type"]) for a in fixed)
            shapes.append((gtx.program_id, disc, size, len(ix["accounts"]), len(fixed) != len(ix.get("args", []))))
    return shapes


def _well_formed(shape):
    program, disc, size, n_accounts, has_vec = shape
    args = st.binary(min_size=size, max_size=size)
    if has_vec:
        args = st.lists(st.integers(0, 2**64 - 1), max_size=4).map(
            lambda xs: len(xs).to_bytes(4, "little") + b"".join(x.to_bytes(8, "little") for x in xs))
    metas = st.lists(account_meta, min_size=max(n_accounts - 1, 0), max_size=n_accounts + 4)
    return st.tuples(st.just(program), args.map(lambda a: disc + a), metas)


account_meta = st.one_of(st.builds(AccountMeta, st.sampled_from(KNOWN_ACCOUNTS), st.just(False), st.booleans()),
                         st.just(AccountMeta(FUZZ_WORLD.payer.pubkey(), True, True)))
garbage = st.tuples(st.sampled_from([REGISTRY.program_id, REGISTRY.token.program_id]), st.binary(max_size=120),
                    st.lists(account_meta, max_size=12))
fuzz_case = st.one_of(garbage, st.sampled_from(_instruction_shapes()).flatmap(_well_formed))


@settings(max_examples=400, deadline=None)
@given(fuzz_case)
def test_fuzzed_instructions_get_typed_errors_and_mint_nothing(case):
    program, data, metas = case
    w = FUZZ_WORLD
    supply_before = mint_supply(w.chain.account(REGISTRY.token.mint_address()).data)
    result = w.chain.send([Instruction(program, data, metas)], [w.payer], check=False)
    logs = "\n".join(result.logs)
    assert "panicked" not in logs and "Access violation" not in logs, logs
    assert "ProgramFailedToComplete" not in (result.error or ""), logs
    if not result.ok and result.custom_code is not None and result.custom_code >= 6000:
        assert result.error_name is not None, f"undeclared error code {result.custom_code}"
    assert mint_supply(w.chain.account(REGISTRY.token.mint_address()).data) == supply_before
