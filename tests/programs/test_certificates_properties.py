"""Properties of the certificate state machine over random operation sequences.

A small model predicts the outcome of every operation — success or the exact error code
— and after each step the chain must agree with it and with two invariants:

* No double issuance: for every meter, the Wh of all its certificates (in any state)
  equal the tracker's `certified_wh`, which never exceeds the meter's recorded production.
* Terminal states are terminal: a retired, revoked or expired certificate's account never
  changes again, whatever is attempted.
* Events suffice for an indexer: replaying only the `Program data:` events of successful
  transactions reproduces every certificate's status, holder and Wh, and each meter's
  certified total; a refused transaction emits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from aggregator.chain import Registry
from aggregator.chain.certificates import TERMINAL, Certificates, IssueRequest, Source, Status
from tests.programs.certificates_fixtures import T0, CertWorld, new_world

METERS = ("PM0", "PM1")
VALIDITY_SECS = 900
REGISTRY = Registry()
CERTS = Certificates(registry_program_id=REGISTRY.program_id)


@dataclass
class Cert:
    address: Pubkey
    meter_id: str
    energy_wh: int
    expires_at: int
    holder: Keypair
    status: Status = Status.PENDING


@dataclass
class Model:
    world: CertWorld
    owners: dict[str, Keypair]
    parties: list[Keypair]
    now: int = T0
    production: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METERS, 0))
    last_reading_at: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METERS, 0))
    certified: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METERS, 0))
    last_end_at: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(METERS, None))
    certs: list[Cert] = field(default_factory=list)
    frozen: dict[Pubkey, bytes] = field(default_factory=dict)
    indexed: dict[Pubkey, dict] = field(default_factory=dict)
    indexed_certified: dict[str, int] = field(default_factory=dict)


def new_model() -> Model:
    world = new_world(CERTS, REGISTRY)
    world.send([CERTS.update_config(world.authority.pubkey(), world.issuer.pubkey(), VALIDITY_SECS)],
               [world.authority])
    owners = {m: world.prosumer(m) for m in METERS}
    return Model(world, owners, [*owners.values(), Keypair(), Keypair()])


# --- operations: each returns the predicted error code (None = success) and the result ---

def op_produce(m: Model, meter_id: str, delta_wh: int, dt: int):
    """The clock moves on by `dt` and the oracle records the meter's new production."""
    op_tick(m, dt)
    m.production[meter_id] += delta_wh
    m.last_reading_at[meter_id] = m.now
    m.world.produce(meter_id, m.production[meter_id], m.now)
    return None, None


def op_tick(m: Model, dt: int):
    m.now += dt
    m.world.chain.set_time(m.now)
    return None, None


def op_issue(m: Model, meter_id: str, energy: int | str, back: int, length: int):
    """Ask for the interval that ends `back` seconds before the meter's last reading, for
    `energy` percent of the meter's uncertified production (or "max": 2**64 - 1 Wh)."""
    uncertified = m.production[meter_id] - m.certified[meter_id]
    if energy == "max":
        energy_wh = 2**64 - 1
    elif energy > 100:
        energy_wh = uncertified + energy - 100
    else:
        energy_wh = max(uncertified * energy // 100, energy > 0)
    end_at = m.last_reading_at[meter_id] - back
    start_at = end_at - length
    request = IssueRequest(meter_id, start_at, end_at, energy_wh, Source.SOLAR)
    expected = None
    if length <= 0:
        expected = 6102
    elif energy_wh == 0:
        expected = 6105
    elif end_at > m.last_reading_at[meter_id] or end_at > m.now:
        expected = 6103
    elif m.last_end_at[meter_id] is not None and start_at < m.last_end_at[meter_id]:
        expected = 6104
    elif m.certified[meter_id] + energy_wh >= 2**64:
        expected = 6011
    elif m.certified[meter_id] + energy_wh > m.production[meter_id]:
        expected = 6106
    owner = m.owners[meter_id]
    result, address = m.world.issue(owner, request)
    if expected is None:
        m.certified[meter_id] += energy_wh
        m.last_end_at[meter_id] = end_at
        m.certs.append(Cert(address, meter_id, energy_wh, end_at + VALIDITY_SECS, owner))
    return expected, result


def op_validate(m: Model, c: Cert):
    expected = 6112 if c.status != Status.PENDING else 6115 if m.now >= c.expires_at else None
    result = m.world.send([CERTS.validate(m.world.issuer.pubkey(), c.address)], [m.world.issuer])
    if expected is None:
        c.status = Status.VALID
    return expected, result


def _tradeable(m: Model, c: Cert, signer: Keypair) -> int | None:
    if signer.pubkey() != c.holder.pubkey():
        return 6111
    if c.status != Status.VALID:
        return 6113
    return 6115 if m.now >= c.expires_at else None


def op_transfer(m: Model, c: Cert, signer_index: int | None, to_index: int):
    """`signer_index` None: the holder signs."""
    signer = c.holder if signer_index is None else m.parties[signer_index]
    to = m.parties[to_index]
    expected = _tradeable(m, c, signer)
    if expected is None and to.pubkey() == c.holder.pubkey():
        expected = 6117
    result = m.world.send([CERTS.transfer(signer.pubkey(), c.address, to.pubkey())], [signer])
    if expected is None:
        c.holder = to
    return expected, result


def op_retire(m: Model, c: Cert, signer_index: int | None):
    signer = c.holder if signer_index is None else m.parties[signer_index]
    expected = _tradeable(m, c, signer)
    result = m.world.send([CERTS.retire(signer.pubkey(), c.address)], [signer])
    if expected is None:
        c.status = Status.RETIRED
    return expected, result


def op_revoke(m: Model, c: Cert, by_authority: bool):
    signer = m.world.authority if by_authority else m.world.issuer
    expected = 6114 if c.status in TERMINAL else None
    result = m.world.send([CERTS.revoke(signer.pubkey(), c.address, 1)], [signer])
    if expected is None:
        c.status = Status.REVOKED
    return expected, result


def op_expire(m: Model, c: Cert):
    expected = 6114 if c.status in TERMINAL else 6116 if m.now < c.expires_at else None
    result = m.world.send([CERTS.expire(c.address)], [])
    if expected is None:
        c.status = Status.EXPIRED
    return expected, result


meter = st.sampled_from(METERS)
party = st.integers(0, len(METERS) + 1)
signer = st.one_of(st.none(), party)
produce = st.tuples(st.just(op_produce), meter, st.integers(1, 5_000), st.integers(0, 300))
issue = st.tuples(st.just(op_issue), meter, st.one_of(st.integers(1, 110), st.just(0), st.just("max")),
                  st.integers(-30, 200), st.integers(-5, 400))
ops = st.one_of(
    produce, issue, produce, issue,  # listed twice: certificates need production first
    st.tuples(st.just(op_tick), st.integers(1, 1_000)),
    st.tuples(st.just(op_validate), st.integers(0, 40)),
    st.tuples(st.just(op_transfer), st.integers(0, 40), signer, party),
    st.tuples(st.just(op_retire), st.integers(0, 40), signer),
    st.tuples(st.just(op_revoke), st.integers(0, 40), st.booleans()),
    st.tuples(st.just(op_expire), st.integers(0, 40)),
)
# Operations on a certificate pick it by index into those issued so far.
ON_CERT = {op_validate, op_transfer, op_retire, op_revoke, op_expire}


# Always run, besides the random sequences: every transition and refusal at least once.
LIFECYCLE = [
    (op_produce, "PM0", 5_000, 100),
    (op_issue, "PM0", 40, 10, 300),       # certificate 0
    (op_issue, "PM0", 50, 0, 11),         # overlaps certificate 0: 6104
    (op_transfer, 0, None, 3),            # PENDING: 6113
    (op_validate, 0),
    (op_validate, 0),                     # 6112
    (op_transfer, 0, None, 3),
    (op_transfer, 0, None, 3),            # to its holder: 6117
    (op_retire, 0, 0),                    # the seller no longer holds it: 6111
    (op_retire, 0, None),
    (op_revoke, 0, False),                # final: 6114
    (op_produce, "PM1", 1_000, 50),
    (op_issue, "PM1", 100, 0, 20),        # certificate 1
    (op_revoke, 1, True),
    (op_produce, "PM0", 100, 10),
    (op_issue, "PM0", 100, 0, 5),         # certificate 2
    (op_expire, 2),                       # too early: 6116
    (op_tick, 1_000),
    (op_validate, 2),                     # 6115
    (op_expire, 2),
    (op_expire, 2),                       # 6114
    (op_produce, "PM0", 10, 1),
    (op_issue, "PM0", "max", 0, 1),       # 6011
    (op_issue, "PM0", 101, 0, 1),         # 6106
    (op_issue, "PM0", 0, 0, 1),           # 6105
    (op_issue, "PM0", 50, -5, 1),         # 6103
    (op_issue, "PM0", 50, 0, 0),          # 6102
]


STATUS_OF_EVENT = {"CertificateValidated": Status.VALID, "CertificateRetired": Status.RETIRED,
                   "CertificateRevoked": Status.REVOKED, "CertificateExpired": Status.EXPIRED}


def index_events(m: Model, result) -> None:
    """Apply a transaction's certificate events the way an indexer would."""
    events = CERTS.program.decode_events(result.logs)
    assert len(events) == (1 if result.ok else 0), result.logs
    for e in events:
        d = e.data
        if e.name == "CertificateIssued":
            m.indexed[d.certificate] = {"status": Status.PENDING, "owner": d.owner, "energy_wh": d.energy_wh}
            m.indexed_certified[bytes(d.meter_id).rstrip(b"\0").decode()] = d.meter_certified_wh
        elif e.name == "CertificateTransferred":
            m.indexed[d.certificate]["owner"] = d.to
        else:
            m.indexed[d.certificate]["status"] = STATUS_OF_EVENT[e.name]


def check_index(m: Model) -> None:
    assert m.indexed == {c.address: {"status": c.status, "owner": c.holder.pubkey(), "energy_wh": c.energy_wh}
                         for c in m.certs}
    assert m.indexed_certified == {k: v for k, v in m.certified.items() if v}


def check_invariants(m: Model) -> None:
    chain = m.world.chain
    for meter_id in METERS:
        meter_data = REGISTRY.decode(bytes(chain.account(REGISTRY.meter_address(meter_id)).data))
        tracker_acc = chain.account(CERTS.tracker_address(REGISTRY.meter_address(meter_id)))
        certified = CERTS.decode(bytes(tracker_acc.data)).certified_wh if tracker_acc else 0
        on_chain = [CERTS.decode(bytes(chain.account(c.address).data)) for c in m.certs if c.meter_id == meter_id]
        assert certified == sum(c.energy_wh for c in on_chain) == m.certified[meter_id]
        assert certified <= meter_data.total_production_wh
    for c in m.certs:
        data = bytes(chain.account(c.address).data)
        decoded = CERTS.decode(data)
        assert (Status(decoded.status), decoded.owner) == (c.status, c.holder.pubkey())
        if c.address in m.frozen:
            assert data == m.frozen[c.address], "a terminal certificate changed"
        elif c.status in TERMINAL:
            m.frozen[c.address] = data
    cfg = CERTS.decode(bytes(chain.account(CERTS.config_address()).data))
    assert (cfg.certificate_count, cfg.certified_wh) == (len(m.certs), sum(m.certified.values()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=12, max_size=40))
@example(LIFECYCLE)
def test_no_double_issuance_terminal_states_and_event_replay(sequence):
    m = new_model()
    for op, *args in sequence:
        if op in ON_CERT:
            if not m.certs:
                continue
            args[0] = m.certs[args[0] % len(m.certs)]
        expected, result = op(m, *args)
        event(f"{op.__name__} -> {expected}")
        if result is not None:
            if expected is None:
                assert result.ok, (op.__name__, args, result.logs)
            else:
                assert (result.ok, result.custom_code) == (False, expected), (op.__name__, args, result.logs)
            index_events(m, result)
        check_invariants(m)
    check_index(m)
