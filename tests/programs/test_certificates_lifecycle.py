"""The certificate state machine in LiteSVM: validate, transfer, retire, revoke and expire,
each success with its event and every refusal with its exact error code."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from aggregator.chain.certificates import IssueRequest, Status
from tests.programs.certificates_fixtures import (  # noqa: F401  (fixtures)
    HOUR, T0, VALIDITY_SECS, CertWorld, certs, expect_error, readonly, unsigned, with_account, world,
)

EXPIRES_AT = T0 - HOUR + VALIDITY_SECS  # of certificates made by CertWorld.valid_certificate


def pending_certificate(world: CertWorld, meter_id: str, energy_wh: int = 1_000) -> tuple[Keypair, Pubkey]:
    owner = world.prosumer(meter_id)
    world.produce(meter_id, energy_wh, T0 - HOUR)
    result, cert = world.issue(owner, IssueRequest(meter_id, T0 - 2 * HOUR, T0 - HOUR, energy_wh))
    assert result.ok, result.logs
    return owner, cert


def status(world: CertWorld, cert: Pubkey) -> Status:
    return Status(world.certificate(cert).status)


def events(world: CertWorld, result) -> list[str]:
    return [e.name for e in world.certs.program.decode_events(result.logs)]


# --- validate ----------------------------------------------------------------------------

def test_validate_makes_a_pending_certificate_valid(world: CertWorld):
    _, cert = pending_certificate(world, "V-1")
    world.chain.set_time(T0 + 60)
    result = world.send([world.certs.validate(world.issuer.pubkey(), cert)], [world.issuer])
    assert result.ok, result.logs
    c = world.certificate(cert)
    assert (Status(c.status), c.validated_at) == (Status.VALID, T0 + 60)
    (event,) = world.certs.program.decode_events(result.logs)
    assert (event.name, event.data.certificate, event.data.issuer, event.data.validated_at) == (
        "CertificateValidated", cert, world.issuer.pubkey(), T0 + 60)


def test_only_the_issuer_validates(world: CertWorld):
    _, cert = pending_certificate(world, "V-2")
    for stranger in (Keypair(), world.authority):
        expect_error(world.send([world.certs.validate(stranger.pubkey(), cert)], [stranger]), 6010, "Unauthorized")
    ix = unsigned(world.certs.validate(world.issuer.pubkey(), cert), world.issuer.pubkey())
    expect_error(world.send([ix], []), 6003, "MissingSignature")
    assert status(world, cert) == Status.PENDING


def test_a_rotated_issuer_key_takes_over_validation(world: CertWorld):
    _, cert = pending_certificate(world, "V-3")
    new_issuer = Keypair()
    world.send([world.certs.update_config(world.authority.pubkey(), new_issuer.pubkey(), VALIDITY_SECS)],
               [world.authority])
    old = world.send([world.certs.validate(world.issuer.pubkey(), cert)], [world.issuer])
    expect_error(old, 6010, "Unauthorized")
    assert world.send([world.certs.validate(new_issuer.pubkey(), cert)], [new_issuer]).ok


def test_validate_only_pending_certificates(world: CertWorld):
    _, cert = world.valid_certificate("V-4")
    again = world.send([world.certs.validate(world.issuer.pubkey(), cert)], [world.issuer])
    expect_error(again, 6112, "CertificateNotPending")


def test_validate_refuses_an_expired_certificate(world: CertWorld):
    _, cert = pending_certificate(world, "V-5")
    world.chain.set_time(EXPIRES_AT)
    expect_error(world.send([world.certs.validate(world.issuer.pubkey(), cert)], [world.issuer]),
                 6115, "CertificateExpired")


def test_validate_checks_its_accounts(world: CertWorld):
    owner, cert = pending_certificate(world, "V-6")
    ix = world.certs.validate(world.issuer.pubkey(), cert)
    expect_error(world.send([readonly(ix, 2)], [world.issuer]), 6004, "AccountNotWritable")
    tracker = world.certs.tracker_address(world.meter("V-6"))
    expect_error(world.send([with_account(ix, 2, tracker)], [world.issuer]), 6110, "UnknownCertificate")
    expect_error(world.send([with_account(ix, 2, world.meter("V-6"))], [world.issuer]), 6110, "UnknownCertificate")
    expect_error(world.send([with_account(ix, 1, tracker)], [world.issuer]), 6008, "InvalidAccountData")


# --- transfer ----------------------------------------------------------------------------

def test_transfer_hands_a_valid_certificate_to_the_buyer(world: CertWorld):
    owner, cert = world.valid_certificate("T-1", 2_500)
    buyer = Keypair()
    result = world.send([world.certs.transfer(owner.pubkey(), cert, buyer.pubkey())], [owner])
    assert result.ok, result.logs
    c = world.certificate(cert)
    assert (c.owner, Status(c.status)) == (buyer.pubkey(), Status.VALID)
    (event,) = world.certs.program.decode_events(result.logs)
    assert (event.name, event.data.certificate, event.data.from_, event.data.to, event.data.energy_wh) == (
        "CertificateTransferred", cert, owner.pubkey(), buyer.pubkey(), 2_500)
    # the seller no longer holds it; the buyer can pass it on
    expect_error(world.send([world.certs.transfer(owner.pubkey(), cert, owner.pubkey())], [owner]),
                 6111, "NotCertificateOwner")
    assert world.send([world.certs.transfer(buyer.pubkey(), cert, owner.pubkey())], [buyer]).ok


def test_transfer_requires_the_holder_signature(world: CertWorld):
    owner, cert = world.valid_certificate("T-2")
    thief = Keypair()
    expect_error(world.send([world.certs.transfer(thief.pubkey(), cert, thief.pubkey())], [thief]),
                 6111, "NotCertificateOwner")
    ix = unsigned(world.certs.transfer(owner.pubkey(), cert, thief.pubkey()), owner.pubkey())
    expect_error(world.send([ix], []), 6003, "MissingSignature")


def test_pending_certificates_cannot_be_traded(world: CertWorld):
    owner, cert = pending_certificate(world, "T-3")
    expect_error(world.send([world.certs.transfer(owner.pubkey(), cert, Keypair().pubkey())], [owner]),
                 6113, "CertificateNotValid")


def test_transfer_refuses_an_expired_certificate(world: CertWorld):
    owner, cert = world.valid_certificate("T-4")
    world.chain.set_time(EXPIRES_AT)
    expect_error(world.send([world.certs.transfer(owner.pubkey(), cert, Keypair().pubkey())], [owner]),
                 6115, "CertificateExpired")
    world.chain.set_time(EXPIRES_AT - 1)
    assert world.send([world.certs.transfer(owner.pubkey(), cert, Keypair().pubkey())], [owner]).ok


@pytest.mark.parametrize("new_owner", ["self", "default"])
def test_transfer_needs_a_real_new_owner(world: CertWorld, new_owner):
    owner, cert = world.valid_certificate("T-5")
    to = owner.pubkey() if new_owner == "self" else Pubkey.default()
    expect_error(world.send([world.certs.transfer(owner.pubkey(), cert, to)], [owner]), 6117, "InvalidNewOwner")


def test_transfer_checks_the_certificate_account(world: CertWorld):
    owner, cert = world.valid_certificate("T-6")
    ix = world.certs.transfer(owner.pubkey(), cert, Keypair().pubkey())
    expect_error(world.send([readonly(ix, 1)], [owner]), 6004, "AccountNotWritable")
    expect_error(world.send([with_account(ix, 1, world.certs.config_address())], [owner]), 6110, "UnknownCertificate")


# --- retire ----------------------------------------------------------------------------

def test_retire_claims_a_valid_certificate_for_good(world: CertWorld):
    owner, cert = world.valid_certificate("R-1", 750)
    world.chain.set_time(T0 + 10)
    result = world.send([world.certs.retire(owner.pubkey(), cert)], [owner])
    assert result.ok, result.logs
    c = world.certificate(cert)
    assert (Status(c.status), c.closed_at, c.owner) == (Status.RETIRED, T0 + 10, owner.pubkey())
    (event,) = world.certs.program.decode_events(result.logs)
    assert (event.name, event.data.owner, event.data.energy_wh, event.data.retired_at) == (
        "CertificateRetired", owner.pubkey(), 750, T0 + 10)


def test_retire_by_someone_else_or_unsigned_is_refused(world: CertWorld):
    owner, cert = world.valid_certificate("R-2")
    other = Keypair()
    expect_error(world.send([world.certs.retire(other.pubkey(), cert)], [other]), 6111, "NotCertificateOwner")
    ix = unsigned(world.certs.retire(owner.pubkey(), cert), owner.pubkey())
    expect_error(world.send([ix], []), 6003, "MissingSignature")


def test_retire_needs_a_valid_unexpired_certificate(world: CertWorld):
    owner, cert = pending_certificate(world, "R-3")
    expect_error(world.send([world.certs.retire(owner.pubkey(), cert)], [owner]), 6113, "CertificateNotValid")
    world.send([world.certs.validate(world.issuer.pubkey(), cert)], [world.issuer])
    world.chain.set_time(EXPIRES_AT + 1)
    expect_error(world.send([world.certs.retire(owner.pubkey(), cert)], [owner]), 6115, "CertificateExpired")


# --- revoke ----------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["issuer", "authority"])
@pytest.mark.parametrize("validated", [False, True])
def test_revoke_by_governance_from_pending_or_valid(world: CertWorld, who, validated):
    owner, cert = world.valid_certificate("X-1") if validated else pending_certificate(world, "X-1")
    signer = world.issuer if who == "issuer" else world.authority
    result = world.send([world.certs.revoke(signer.pubkey(), cert, 3)], [signer])
    assert result.ok, result.logs
    c = world.certificate(cert)
    assert (Status(c.status), c.revoke_reason, c.closed_at) == (Status.REVOKED, 3, T0)
    (event,) = world.certs.program.decode_events(result.logs)
    assert (event.name, event.data.by, event.data.reason, event.data.revoked_at) == (
        "CertificateRevoked", signer.pubkey(), 3, T0)
    # the revoked Wh stay certified: the same generation cannot be certified again
    assert world.tracker("X-1").certified_wh == c.energy_wh
    world.produce("X-1", c.energy_wh, T0)  # a later reading, no new production
    again, _ = world.issue(owner, IssueRequest("X-1", T0 - HOUR, T0, 1))
    expect_error(again, 6106, "InsufficientGeneration")


def test_revoke_is_for_governance_only(world: CertWorld):
    owner, cert = world.valid_certificate("X-2")
    expect_error(world.send([world.certs.revoke(owner.pubkey(), cert, 1)], [owner]), 6010, "Unauthorized")
    ix = unsigned(world.certs.revoke(world.issuer.pubkey(), cert, 1), world.issuer.pubkey())
    expect_error(world.send([ix], []), 6003, "MissingSignature")
    ix = world.certs.revoke(world.issuer.pubkey(), cert, 1)
    expect_error(world.send([readonly(ix, 2)], [world.issuer]), 6004, "AccountNotWritable")
    expect_error(world.send([with_account(ix, 1, world.registry.config_address())], [world.issuer]),
                 6007, "InvalidAccountOwner")
    assert status(world, cert) == Status.VALID


# --- expire ----------------------------------------------------------------------------

@pytest.mark.parametrize("validated", [False, True])
def test_anyone_expires_a_lapsed_certificate(world: CertWorld, validated):
    _, cert = world.valid_certificate("E-1") if validated else pending_certificate(world, "E-1")
    world.chain.set_time(EXPIRES_AT)
    result = world.send([world.certs.expire(cert)], [])
    assert result.ok, result.logs
    c = world.certificate(cert)
    assert (Status(c.status), c.closed_at) == (Status.EXPIRED, EXPIRES_AT)
    (event,) = world.certs.program.decode_events(result.logs)
    assert (event.name, event.data.certificate, event.data.expired_at) == ("CertificateExpired", cert, EXPIRES_AT)


def test_expire_before_the_deadline_is_refused(world: CertWorld):
    _, cert = world.valid_certificate("E-2")
    world.chain.set_time(EXPIRES_AT - 1)
    expect_error(world.send([world.certs.expire(cert)], []), 6116, "CertificateNotExpired")
    ix = world.certs.expire(cert)
    expect_error(world.send([readonly(ix, 0)], []), 6004, "AccountNotWritable")
    expect_error(world.send([with_account(ix, 0, Keypair().pubkey())], []), 6110, "UnknownCertificate")


def test_validity_period_is_fixed_at_issuance(world: CertWorld):
    _, cert = pending_certificate(world, "E-3")
    world.send([world.certs.update_config(world.authority.pubkey(), world.issuer.pubkey(), 1)], [world.authority])
    assert world.certificate(cert).expires_at == EXPIRES_AT
    owner = world.prosumer("E-4")
    world.produce("E-4", 10, T0)
    _, short = world.issue(owner, IssueRequest("E-4", T0 - 10, T0, 10))
    assert world.certificate(short).expires_at == T0 + 1
    world.chain.set_time(T0 + 1)
    assert world.send([world.certs.expire(short)], []).ok
    expect_error(world.send([world.certs.expire(cert)], []), 6116, "CertificateNotExpired")


# --- terminal states ---------------------------------------------------------------------

def _to_terminal(world: CertWorld, meter_id: str, final: Status) -> tuple[Keypair, Pubkey]:
    owner, cert = world.valid_certificate(meter_id)
    if final == Status.RETIRED:
        assert world.send([world.certs.retire(owner.pubkey(), cert)], [owner]).ok
    elif final == Status.REVOKED:
        assert world.send([world.certs.revoke(world.issuer.pubkey(), cert, 0)], [world.issuer]).ok
    else:
        world.chain.set_time(EXPIRES_AT)
        assert world.send([world.certs.expire(cert)], []).ok
    return owner, cert


@pytest.mark.parametrize("final", [Status.RETIRED, Status.REVOKED, Status.EXPIRED])
def test_terminal_states_are_terminal(world: CertWorld, final):
    owner, cert = _to_terminal(world, "F-1", final)
    before = bytes(world.chain.account(cert).data)
    c = world.certs
    expect_error(world.send([c.validate(world.issuer.pubkey(), cert)], [world.issuer]), 6112, "CertificateNotPending")
    expect_error(world.send([c.transfer(owner.pubkey(), cert, Keypair().pubkey())], [owner]), 6113, "CertificateNotValid")
    expect_error(world.send([c.retire(owner.pubkey(), cert)], [owner]), 6113, "CertificateNotValid")
    expect_error(world.send([c.revoke(world.authority.pubkey(), cert, 9)], [world.authority]), 6114, "CertificateFinal")
    world.chain.set_time(EXPIRES_AT + 10)
    expect_error(world.send([c.expire(cert)], []), 6114, "CertificateFinal")
    assert bytes(world.chain.account(cert).data) == before
