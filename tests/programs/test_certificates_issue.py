"""The certificates program's config and issuance in LiteSVM: every success and failure
path with its exact error code, instructions built by anchorpy from the IDL."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from aggregator.chain.certificates import IssueRequest, Source, Status
from aggregator.chain.programs import from_label, meter_id_bytes
from tests.programs.certificates_fixtures import (  # noqa: F401  (fixtures)
    HOUR, T0, VALIDITY_SECS, CertWorld, certs, certs_chain, expect_error, readonly, unsigned, with_account, world,
)
from tools.idl.gen import Interface, type_size

# --- initialize ------------------------------------------------------------------------

def test_initialize_creates_the_config_and_emits_an_event(certs_chain, certs):
    authority, issuer = certs_chain.deployer(), Keypair()
    result = certs_chain.send([certs.initialize(authority.pubkey(), issuer.pubkey(), VALIDITY_SECS)], [authority])
    acc = certs_chain.account(certs.config_address())
    assert acc.owner == certs.program_id
    assert acc.lamports == certs_chain.svm.minimum_balance_for_rent_exemption(len(acc.data))
    cfg = certs.decode(bytes(acc.data))
    assert (cfg.authority, cfg.issuer, cfg.validity_secs) == (authority.pubkey(), issuer.pubkey(), VALIDITY_SECS)
    assert (cfg.certificate_count, cfg.certified_wh) == (0, 0)
    (event,) = certs.program.decode_events(result.logs)
    assert (event.name, event.data.issuer, event.data.validity_secs) == (
        "CertificatesConfigured", issuer.pubkey(), VALIDITY_SECS)


def test_initialize_twice_is_refused(world: CertWorld):
    again = world.send([world.certs.initialize(world.authority.pubkey(), Keypair().pubkey(), 1)], [world.authority])
    expect_error(again, 6006, "AccountAlreadyExists")


def test_initialize_requires_the_authority_signature(certs_chain, certs):
    authority, payer = Keypair(), certs_chain.new_funded_keypair()
    ix = unsigned(certs.initialize(authority.pubkey(), Keypair().pubkey(), 1), authority.pubkey())
    expect_error(certs_chain.send([ix], [payer], check=False), 6003, "MissingSignature")


def test_initialize_rejects_a_config_that_is_not_the_pda(certs_chain, certs):
    authority = certs_chain.deployer()
    ix = with_account(certs.initialize(authority.pubkey(), Keypair().pubkey(), 1), 1, Keypair().pubkey())
    expect_error(certs_chain.send([ix], [authority], check=False), 6005, "InvalidPda")


def test_initialize_rejects_a_fake_system_program(certs_chain, certs):
    authority = certs_chain.deployer()
    ix = with_account(certs.initialize(authority.pubkey(), Keypair().pubkey(), 1), 2, Keypair().pubkey())
    expect_error(certs_chain.send([ix], [authority], check=False), 6009, "InvalidSystemProgram")


def test_initialize_needs_a_writable_config(certs_chain, certs):
    authority = certs_chain.deployer()
    ix = readonly(certs.initialize(authority.pubkey(), Keypair().pubkey(), 1), 1)
    expect_error(certs_chain.send([ix], [authority], check=False), 6004, "AccountNotWritable")


def test_initialize_rejects_a_non_positive_validity(certs_chain, certs):
    authority = certs_chain.deployer()
    for validity in (0, -1):
        result = certs_chain.send([certs.initialize(authority.pubkey(), Keypair().pubkey(), validity)], [authority],
                                  check=False)
        expect_error(result, 6100, "InvalidValidityPeriod")


def test_instruction_data_of_the_wrong_length_is_refused(certs_chain, certs):
    authority = certs_chain.deployer()
    ix = certs.initialize(authority.pubkey(), Keypair().pubkey(), 1)
    short = Instruction(ix.program_id, bytes(ix.data)[:-1], ix.accounts)
    expect_error(certs_chain.send([short], [authority], check=False), 6001, "InvalidInstructionData")


def test_unknown_instructions_and_missing_accounts_are_refused(certs_chain, certs):
    payer = certs_chain.new_funded_keypair()
    unknown = Instruction(certs.program_id, b"\x00" * 8, [])
    expect_error(certs_chain.send([unknown], [payer], check=False), 6000, "UnknownInstruction")
    empty = Instruction(certs.program_id, b"", [])
    expect_error(certs_chain.send([empty], [payer], check=False), 6000, "UnknownInstruction")
    ix = certs.expire(Keypair().pubkey())
    expect_error(certs_chain.send([Instruction(ix.program_id, ix.data, [])], [payer], check=False),
                 6002, "NotEnoughAccounts")


# --- update_config -----------------------------------------------------------------------

def test_update_config_rotates_the_issuer(world: CertWorld):
    new_issuer = Keypair()
    result = world.send([world.certs.update_config(world.authority.pubkey(), new_issuer.pubkey(), HOUR)],
                        [world.authority])
    assert result.ok, result.logs
    cfg = world.config()
    assert (cfg.issuer, cfg.validity_secs, cfg.authority) == (new_issuer.pubkey(), HOUR, world.authority.pubkey())
    (event,) = world.certs.program.decode_events(result.logs)
    assert (event.name, event.data.issuer) == ("CertificatesConfigured", new_issuer.pubkey())


def test_update_config_is_for_the_authority_only(world: CertWorld):
    stranger = Keypair()
    result = world.send([world.certs.update_config(stranger.pubkey(), stranger.pubkey(), 1)], [stranger])
    expect_error(result, 6010, "Unauthorized")
    ix = unsigned(world.certs.update_config(world.authority.pubkey(), stranger.pubkey(), 1), world.authority.pubkey())
    expect_error(world.chain.send([ix], [world.chain.new_funded_keypair()], check=False), 6003, "MissingSignature")
    assert world.config().issuer == world.issuer.pubkey()


def test_update_config_checks_the_validity_and_the_config(world: CertWorld):
    ix = world.certs.update_config(world.authority.pubkey(), world.issuer.pubkey(), 0)
    expect_error(world.send([ix], [world.authority]), 6100, "InvalidValidityPeriod")
    ix = world.certs.update_config(world.authority.pubkey(), world.issuer.pubkey(), 1)
    expect_error(world.send([readonly(ix, 1)], [world.authority]), 6004, "AccountNotWritable")
    fake = with_account(ix, 1, world.registry.config_address())
    expect_error(world.send([fake], [world.authority]), 6007, "InvalidAccountOwner")


# --- issue ----------------------------------------------------------------------------------

def _request(meter_id: str, energy_wh: int = 4_000, start_at: int = T0 - 3 * HOUR, end_at: int = T0 - HOUR,
             source: Source = Source.SOLAR) -> IssueRequest:
    return IssueRequest(meter_id, start_at, end_at, energy_wh, source)


def test_issue_creates_a_pending_certificate_from_the_meter(world: CertWorld):
    owner = world.prosumer("ERC-1", location="Chiang Mai")
    world.produce("ERC-1", 10_000, T0 - HOUR)
    result, address = world.issue(owner, _request("ERC-1", source=Source.WIND))
    assert result.ok, result.logs
    meter = world.meter("ERC-1")
    assert address == world.certs.certificate_address(meter, 0)
    c = world.certificate(address)
    assert (c.meter, bytes(c.meter_id), c.sequence, c.owner) == (meter, meter_id_bytes("ERC-1"), 0, owner.pubkey())
    assert (c.energy_wh, c.start_at, c.end_at, c.source) == (4_000, T0 - 3 * HOUR, T0 - HOUR, Source.WIND)
    assert from_label(c.location) == "Chiang Mai"
    assert (Status(c.status), c.issued_at, c.validated_at, c.closed_at) == (Status.PENDING, T0, 0, 0)
    assert c.expires_at == T0 - HOUR + VALIDITY_SECS
    t = world.tracker("ERC-1")
    assert (t.meter, t.certified_wh, t.next_sequence, t.last_end_at) == (meter, 4_000, 1, T0 - HOUR)
    cfg = world.config()
    assert (cfg.certificate_count, cfg.certified_wh) == (1, 4_000)
    (event,) = world.certs.program.decode_events(result.logs)
    assert event.name == "CertificateIssued"
    assert (event.data.certificate, event.data.sequence, event.data.energy_wh, event.data.meter_certified_wh) == (
        address, 0, 4_000, 4_000)
    assert (event.data.expires_at, from_label(event.data.location)) == (c.expires_at, "Chiang Mai")


def test_certificates_of_a_meter_are_numbered_and_use_only_uncertified_generation(world: CertWorld):
    owner = world.prosumer("ERC-2")
    world.produce("ERC-2", 10_000, T0 - HOUR)
    first, a0 = world.issue(owner, _request("ERC-2", 6_000, T0 - 4 * HOUR, T0 - 3 * HOUR))
    second, a1 = world.issue(owner, _request("ERC-2", 4_000, T0 - 3 * HOUR, T0 - 2 * HOUR))
    assert first.ok and second.ok, second.logs
    assert (world.certificate(a0).sequence, world.certificate(a1).sequence) == (0, 1)
    assert world.tracker("ERC-2").certified_wh == 10_000
    # All 10 kWh are certified: one more Wh is refused until the meter produces more.
    expect_error(world.issue(owner, _request("ERC-2", 1, T0 - 2 * HOUR, T0 - HOUR))[0], 6106, "InsufficientGeneration")
    world.produce("ERC-2", 10_500, T0)
    ok, _ = world.issue(owner, _request("ERC-2", 500, T0 - 2 * HOUR, T0))
    assert ok.ok, ok.logs
    assert world.tracker("ERC-2").certified_wh == 10_500


def test_issue_is_refused_beyond_recorded_production(world: CertWorld):
    owner = world.prosumer("ERC-3")
    world.produce("ERC-3", 999, T0 - HOUR)
    expect_error(world.issue(owner, _request("ERC-3", 1_000))[0], 6106, "InsufficientGeneration")
    assert world.chain.account(world.certs.tracker_address(world.meter("ERC-3"))) is None


def test_issue_interval_must_be_metered(world: CertWorld):
    owner = world.prosumer("ERC-4")
    world.produce("ERC-4", 5_000, T0 - HOUR)
    after_last_reading = _request("ERC-4", 100, T0 - 2 * HOUR, T0 - HOUR + 1)
    expect_error(world.issue(owner, after_last_reading)[0], 6103, "IntervalNotMetered")
    world.produce("ERC-4", 5_000, T0 + HOUR)  # a reading stamped in the future
    in_the_future = _request("ERC-4", 100, T0 - HOUR, T0 + 1)
    expect_error(world.issue(owner, in_the_future)[0], 6103, "IntervalNotMetered")


def test_issue_intervals_of_one_meter_never_overlap(world: CertWorld):
    owner = world.prosumer("ERC-5")
    world.produce("ERC-5", 5_000, T0)
    assert world.issue(owner, _request("ERC-5", 100, T0 - 2 * HOUR, T0 - HOUR))[0].ok
    expect_error(world.issue(owner, _request("ERC-5", 100, T0 - HOUR - 1, T0))[0], 6104, "IntervalOverlaps")
    assert world.issue(owner, _request("ERC-5", 100, T0 - HOUR, T0))[0].ok


def test_issue_validates_its_arguments(world: CertWorld):
    owner = world.prosumer("ERC-6")
    world.produce("ERC-6", 5_000, T0)
    expect_error(world.issue(owner, _request("ERC-6", source=5))[0], 6101, "InvalidSource")
    expect_error(world.issue(owner, _request("ERC-6", start_at=T0 - HOUR, end_at=T0 - HOUR))[0], 6102, "InvalidInterval")
    expect_error(world.issue(owner, _request("ERC-6", start_at=T0, end_at=T0 - HOUR))[0], 6102, "InvalidInterval")
    expect_error(world.issue(owner, _request("ERC-6", energy_wh=0))[0], 6105, "ZeroEnergy")


def test_issue_energy_overflow_is_a_typed_error(world: CertWorld):
    owner = world.prosumer("ERC-7")
    world.produce("ERC-7", 5_000, T0)
    assert world.issue(owner, _request("ERC-7", 10, T0 - 3 * HOUR, T0 - 2 * HOUR))[0].ok
    result, _ = world.issue(owner, _request("ERC-7", 2**64 - 1, T0 - 2 * HOUR, T0 - HOUR))
    expect_error(result, 6011, "ArithmeticOverflow")


def test_only_the_meter_owner_may_issue(world: CertWorld):
    world.prosumer("ERC-8")
    world.produce("ERC-8", 5_000, T0)
    intruder = world.chain.new_funded_keypair()
    expect_error(world.issue(intruder, _request("ERC-8"))[0], 6107, "NotMeterOwner")
    owner_pk = world.registry.decode(bytes(world.chain.account(world.meter("ERC-8")).data)).owner
    ix = unsigned(world.certs.issue(owner_pk, _request("ERC-8"), 0), owner_pk)
    expect_error(world.send([ix], []), 6003, "MissingSignature")


def test_issue_for_a_deactivated_meter_is_refused(world: CertWorld):
    owner = world.prosumer("ERC-9")
    world.produce("ERC-9", 5_000, T0)
    world.chain.send([world.registry.deactivate_meter(owner.pubkey(), "ERC-9")], [owner])
    expect_error(world.issue(owner, _request("ERC-9"))[0], 6109, "MeterInactive")


def test_issue_needs_a_registry_meter(world: CertWorld):
    owner = world.prosumer("ERC-10")
    world.produce("ERC-10", 5_000, T0)
    ix = world.issue_ix(owner, _request("ERC-10"))
    user_account = world.registry.user_address(owner.pubkey())  # a registry account, but not a meter
    expect_error(world.chain.send([with_account(ix, 2, user_account)], [owner], check=False), 6108, "UnknownMeter")
    expect_error(world.chain.send([with_account(ix, 2, Keypair().pubkey())], [owner], check=False), 6108, "UnknownMeter")


def test_a_forged_meter_account_is_refused(world: CertWorld):
    """A copy of a real meter's bytes claiming more production, owned by another program."""
    from solders.account import Account

    owner = world.prosumer("ERC-16")
    world.produce("ERC-16", 10, T0)
    real = world.chain.account(world.meter("ERC-16"))
    fields = next(a["fields"] for a in Interface.load("registry").spec["accounts"] if a["name"] == "Meter")
    names = [f["name"] for f in fields]
    offset = 8 + sum(type_size(f["type"]) for f in fields[:names.index("total_production_wh")])
    forged = bytearray(bytes(real.data))
    forged[offset:offset + 8] = (10**9).to_bytes(8, "little")
    forged = bytes(forged)
    assert world.registry.decode(forged).total_production_wh == 10**9
    fake = Keypair().pubkey()
    world.chain.svm.set_account(fake, Account(real.lamports, forged, world.certs.program_id, False, 0))
    ix = world.issue_ix(owner, _request("ERC-16", 1_000_000))
    expect_error(world.chain.send([with_account(ix, 2, fake)], [owner], check=False), 6108, "UnknownMeter")
    # the real meter refuses the same request
    expect_error(world.chain.send([ix], [owner], check=False), 6106, "InsufficientGeneration")


def test_certificates_count_gross_production_not_net_surplus(world: CertWorld):
    owner = world.prosumer("ERC-17")
    world.chain.send([world.registry.submit_readings(world.oracle.pubkey(), "ERC-17", 3_000, 5_000, T0)],
                     [world.oracle], payer=world.authority)
    result, _ = world.issue(owner, _request("ERC-17", 3_000))
    assert result.ok, result.logs


def test_issue_checks_the_tracker_and_certificate_addresses(world: CertWorld):
    owner = world.prosumer("ERC-11")
    other = world.prosumer("ERC-12")
    world.produce("ERC-11", 5_000, T0)
    world.produce("ERC-12", 5_000, T0)
    assert world.issue(other, _request("ERC-12", 10))[0].ok
    ix = world.issue_ix(owner, _request("ERC-11"))
    # another meter's tracker (exists) and a random address (absent) are both refused
    other_tracker = world.certs.tracker_address(world.meter("ERC-12"))
    expect_error(world.chain.send([with_account(ix, 3, other_tracker)], [owner], check=False), 6005, "InvalidPda")
    expect_error(world.chain.send([with_account(ix, 3, Keypair().pubkey())], [owner], check=False), 6005, "InvalidPda")
    # a certificate address for the wrong sequence is refused, so sequences have no gaps
    wrong_seq = world.issue_ix(owner, _request("ERC-11"), sequence=1)
    expect_error(world.chain.send([wrong_seq], [owner], check=False), 6005, "InvalidPda")
    # and an existing certificate cannot be overwritten by replaying its sequence
    assert world.chain.send([ix], [owner], check=False).ok
    replay = world.issue_ix(owner, _request("ERC-11", 10, T0 - HOUR, T0), sequence=0)
    expect_error(world.chain.send([replay], [owner], check=False), 6005, "InvalidPda")
    # a certificate (right owner, wrong type) in the tracker slot is refused
    cert0 = world.certs.certificate_address(world.meter("ERC-11"), 0)
    bad = world.issue_ix(owner, _request("ERC-11", 10, T0 - HOUR, T0))
    expect_error(world.chain.send([with_account(bad, 3, cert0)], [owner], check=False), 6008, "InvalidAccountData")


def test_issue_checks_writability_config_and_system_program(world: CertWorld):
    owner = world.prosumer("ERC-13")
    world.produce("ERC-13", 5_000, T0)
    ix = world.issue_ix(owner, _request("ERC-13"))
    for index in (1, 3, 4):
        expect_error(world.chain.send([readonly(ix, index)], [owner], check=False), 6004, "AccountNotWritable")
    expect_error(world.chain.send([with_account(ix, 5, Keypair().pubkey())], [owner], check=False),
                 6009, "InvalidSystemProgram")
    fake_config = world.certs.tracker_address(world.meter("ERC-13"))
    result = world.chain.send([with_account(ix, 1, world.registry.config_address())], [owner], check=False)
    expect_error(result, 6007, "InvalidAccountOwner")
    assert world.chain.account(fake_config) is None


def test_issue_before_initialize_is_refused(certs_chain, registry, certs):
    authority = certs_chain.deployer()
    certs_chain.send([registry.initialize(authority.pubkey(), authority.pubkey())], [authority])
    owner = certs_chain.new_funded_keypair()
    certs_chain.send([registry.register_user(owner.pubkey(), 0),
                      registry.register_meter(owner.pubkey(), "ERC-14", bytes(32), "x")], [owner])
    ix = certs.issue(owner.pubkey(), _request("ERC-14"), 0)
    expect_error(certs_chain.send([ix], [owner], check=False), 6007, "InvalidAccountOwner")


def test_a_prefunded_tracker_or_certificate_address_cannot_block_issuance(world: CertWorld):
    owner = world.prosumer("ERC-15")
    world.produce("ERC-15", 5_000, T0)
    meter = world.meter("ERC-15")
    griefer = world.chain.new_funded_keypair()
    dust = [transfer(TransferParams(from_pubkey=griefer.pubkey(), to_pubkey=to, lamports=1_000))
            for to in (world.certs.tracker_address(meter), world.certs.certificate_address(meter, 0))]
    world.chain.send(dust, [griefer])
    result, address = world.issue(owner, _request("ERC-15"))
    assert result.ok, result.logs
    assert world.certificate(address).energy_wh == 4_000
