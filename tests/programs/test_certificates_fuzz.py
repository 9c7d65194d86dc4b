"""Fuzzed instruction data and account lists against the certificates program: every
outcome is a typed error or a legitimate state change — never a panic, an access
violation, a certificate created from thin air, or a terminal certificate that changes.

The fuzzing wallet owns a producing meter and is also the issuer, so random instructions
that happen to be well-formed can really issue, validate, transfer, retire and revoke.
"""

from __future__ import annotations

import hashlib

from hypothesis import event, given, settings
from hypothesis import strategies as st
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from aggregator.chain import Registry
from aggregator.chain.certificates import TERMINAL, Certificates, IssueRequest, Status
from tests.programs.certificates_fixtures import HOUR, T0, new_world
from tools.idl.gen import Interface, type_size

DAY = 24 * HOUR
REGISTRY = Registry()
CERTS = Certificates(registry_program_id=REGISTRY.program_id)
METERS = ("FZ0", "FZ1")


def _fuzz_world():
    world = new_world(CERTS, REGISTRY)
    owner = world.prosumer("FZ0")
    other = world.prosumer("FZ1")
    # The owner of FZ0 is the issuer too, so fuzzed validations and revocations can succeed.
    world.chain.send([CERTS.update_config(world.authority.pubkey(), owner.pubkey(), DAY)], [world.authority])
    world.produce("FZ0", 10_000, T0)
    world.produce("FZ1", 10_000, T0)
    assert world.issue(other, IssueRequest("FZ1", T0 - HOUR, T0, 500))[0].ok
    # an expired certificate, then VALID, PENDING, RETIRED and REVOKED ones
    assert world.issue(owner, IssueRequest("FZ0", T0 - 3 * DAY, T0 - 2 * DAY, 100))[0].ok
    assert world.send([CERTS.expire(CERTS.certificate_address(world.meter("FZ0"), 0))], []).ok
    addresses = []
    for k in range(4):
        result, address = world.issue(owner, IssueRequest("FZ0", T0 - 4 * HOUR + k * HOUR, T0 - 3 * HOUR + k * HOUR, 1_000))
        assert result.ok, result.logs
        addresses.append(address)
    for address in (addresses[0], addresses[2], addresses[3]):
        assert world.send([CERTS.validate(owner.pubkey(), address)], [owner]).ok
    assert world.send([CERTS.retire(owner.pubkey(), addresses[2])], [owner]).ok
    assert world.send([CERTS.revoke(owner.pubkey(), addresses[3], 7)], [owner]).ok
    return world, owner


WORLD, OWNER = _fuzz_world()
PAYER = OWNER.pubkey()


def certificate_addresses() -> list[Pubkey]:
    """Every certificate of the fuzz meters, found through their trackers' sequences."""
    out = []
    for meter_id in METERS:
        meter = REGISTRY.meter_address(meter_id)
        acc = WORLD.chain.account(CERTS.tracker_address(meter))
        for seq in range(CERTS.next_sequence(bytes(acc.data) if acc else None)):
            out.append(CERTS.certificate_address(meter, seq))
    return out


KNOWN_ACCOUNTS = [
    CERTS.config_address(), REGISTRY.config_address(), Pubkey.default(), CERTS.program_id, REGISTRY.program_id,
    PAYER, WORLD.issuer.pubkey(), WORLD.authority.pubkey(), Keypair().pubkey(),
    *(REGISTRY.meter_address(m) for m in METERS),
    *(CERTS.tracker_address(REGISTRY.meter_address(m)) for m in METERS),
    *(CERTS.certificate_address(REGISTRY.meter_address("FZ0"), s) for s in range(7)),
    CERTS.certificate_address(REGISTRY.meter_address("FZ1"), 0),
    REGISTRY.user_address(PAYER),
]


def _instruction_shapes():
    """(discriminator, argument bytes, account count) of every certificates instruction."""
    spec = Interface.load("certificates").spec
    return [(hashlib.sha256(f"global:{ix['name']}".encode()).digest()[:8],
             sum(type_size(a["type"]) for a in ix.get("args", [])), len(ix["accounts"]))
            for ix in spec["instructions"]]


account_meta = st.one_of(st.builds(AccountMeta, st.sampled_from(KNOWN_ACCOUNTS), st.just(False), st.booleans()),
                         st.just(AccountMeta(PAYER, True, True)))


def _well_formed(shape):
    disc, size, n_accounts = shape
    metas = st.lists(account_meta, min_size=max(n_accounts - 1, 0), max_size=n_accounts + 3)
    return st.tuples(st.binary(min_size=size, max_size=size).map(lambda a: disc + a), metas)


garbage = st.tuples(st.binary(max_size=80), st.lists(account_meta, max_size=8))
well_formed = st.sampled_from(_instruction_shapes()).flatmap(_well_formed)
fuzz_case = st.one_of(garbage, well_formed, well_formed, well_formed)


def snapshot() -> dict[Pubkey, bytes]:
    return {a: bytes(WORLD.chain.account(a).data) for a in certificate_addresses()}


@settings(max_examples=400, deadline=None)
@given(fuzz_case)
def test_fuzzed_instructions_get_typed_errors_and_keep_the_invariants(case):
    data, metas = case
    before = snapshot()
    result = WORLD.chain.send([Instruction(CERTS.program_id, data, metas)], [OWNER], check=False)
    event("ok" if result.ok else f"error {result.custom_code or result.error}")
    logs = "\n".join(result.logs)
    assert "panicked" not in logs and "Access violation" not in logs, logs
    assert "ProgramFailedToComplete" not in (result.error or ""), logs
    if not result.ok and result.custom_code is not None and result.custom_code >= 6000:
        assert result.error_name is not None, f"undeclared error code {result.custom_code}"
    after = snapshot()
    if not result.ok:
        assert after == before
    for address, raw in before.items():
        if Status(CERTS.decode(raw).status) in TERMINAL:
            assert after[address] == raw, "a terminal certificate changed"
    for meter_id in METERS:
        meter = REGISTRY.meter_address(meter_id)
        production = REGISTRY.decode(bytes(WORLD.chain.account(meter).data)).total_production_wh
        tracker = CERTS.decode(bytes(WORLD.chain.account(CERTS.tracker_address(meter)).data))
        energies = [CERTS.decode(raw).energy_wh for a, raw in after.items()
                    if CERTS.decode(raw).meter == meter]
        assert len(energies) == tracker.next_sequence
        assert sum(energies) == tracker.certified_wh <= production
