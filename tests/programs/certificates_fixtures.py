"""Fixtures for the certificates program: registry, energy_token and certificates in one
LiteSVM, initialized, with helpers to make a prosumer's meter produce and to issue.

Import the fixtures into a test module (`from tests.programs.certificates_fixtures import
...`) rather than adding them to conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from aggregator.chain import PROSUMER, LocalChain, Registry, TxResult
from aggregator.chain.certificates import Certificates, IssueRequest

T0 = 1_767_225_600  # chain clock: 2026-01-01T00:00:00Z
HOUR = 3_600
VALIDITY_SECS = 365 * 24 * HOUR


def expect_error(result: TxResult, code: int, name: str) -> None:
    assert not result.ok, "transaction unexpectedly succeeded"
    assert (result.custom_code, result.error_name) == (code, name), result.logs


def unsigned(ix: Instruction, who: Pubkey) -> Instruction:
    """The same instruction with `who` no longer marked as a signer."""
    metas = [AccountMeta(m.pubkey, False if m.pubkey == who else m.is_signer, m.is_writable) for m in ix.accounts]
    return Instruction(ix.program_id, ix.data, metas)


def readonly(ix: Instruction, index: int) -> Instruction:
    metas = list(ix.accounts)
    metas[index] = AccountMeta(metas[index].pubkey, metas[index].is_signer, False)
    return Instruction(ix.program_id, ix.data, metas)


def with_account(ix: Instruction, index: int, pubkey: Pubkey) -> Instruction:
    metas = list(ix.accounts)
    metas[index] = AccountMeta(pubkey, metas[index].is_signer, metas[index].is_writable)
    return Instruction(ix.program_id, ix.data, metas)


@dataclass
class CertWorld:
    """An initialized chain: the registry's oracle records readings, `issuer` validates."""

    chain: LocalChain
    registry: Registry
    certs: Certificates
    authority: Keypair
    oracle: Keypair
    issuer: Keypair

    def send(self, ixs: list[Instruction], signers: list[Keypair]) -> TxResult:
        """Send without raising; the authority pays so signers need no lamports."""
        return self.chain.send(ixs, signers, payer=self.authority, check=False)

    def prosumer(self, meter_id: str, location: str = "Bangkok-TH") -> Keypair:
        wallet = self.chain.new_funded_keypair()
        self.chain.send([self.registry.register_user(wallet.pubkey(), PROSUMER),
                         self.registry.register_meter(wallet.pubkey(), meter_id, bytes(Keypair().pubkey()), location)],
                        [wallet])
        return wallet

    def produce(self, meter_id: str, production_wh: int, reading_at: int) -> None:
        """Record the meter's cumulative production (no consumption) at `reading_at`."""
        self.chain.send([self.registry.submit_readings(self.oracle.pubkey(), meter_id, production_wh, 0, reading_at)],
                        [self.oracle], payer=self.authority)

    def meter(self, meter_id: str) -> Pubkey:
        return self.certs.meter_address(meter_id)

    def next_sequence(self, meter_id: str) -> int:
        acc = self.chain.account(self.certs.tracker_address(self.meter(meter_id)))
        return self.certs.next_sequence(None if acc is None else bytes(acc.data))

    def issue_ix(self, owner: Keypair, request: IssueRequest, sequence: int | None = None) -> Instruction:
        seq = self.next_sequence(request.meter_id) if sequence is None else sequence
        return self.certs.issue(owner.pubkey(), request, seq)

    def issue(self, owner: Keypair, request: IssueRequest) -> tuple[TxResult, Pubkey]:
        """Issue the meter's next certificate; returns the result and its address."""
        seq = self.next_sequence(request.meter_id)
        result = self.chain.send([self.certs.issue(owner.pubkey(), request, seq)], [owner], check=False)
        return result, self.certs.certificate_address(self.meter(request.meter_id), seq)

    def certificate(self, address: Pubkey):
        return self.certs.decode(bytes(self.chain.account(address).data))

    def tracker(self, meter_id: str):
        return self.certs.decode(bytes(self.chain.account(self.certs.tracker_address(self.meter(meter_id))).data))

    def config(self):
        return self.certs.decode(bytes(self.chain.account(self.certs.config_address()).data))

    def valid_certificate(self, meter_id: str, energy_wh: int = 1_000) -> tuple[Keypair, Pubkey]:
        """A prosumer whose meter produced, holding one VALID certificate of `energy_wh`."""
        owner = self.prosumer(meter_id)
        self.produce(meter_id, energy_wh, T0 - HOUR)
        result, cert = self.issue(owner, IssueRequest(meter_id, T0 - 2 * HOUR, T0 - HOUR, energy_wh))
        assert result.ok, result.logs
        assert self.send([self.certs.validate(self.issuer.pubkey(), cert)], [self.issuer]).ok
        return owner, cert


def new_world(certs: Certificates | None = None, registry: Registry | None = None) -> CertWorld:
    registry = registry or Registry()
    certs = certs or Certificates(registry_program_id=registry.program_id)
    chain = LocalChain([registry.program, registry.token.program, certs.program], unix_timestamp=T0)
    authority, oracle, issuer = chain.deployer(), Keypair(), Keypair()
    chain.send([registry.initialize(authority.pubkey(), oracle.pubkey()),
                registry.token.initialize(authority.pubkey()),
                certs.initialize(authority.pubkey(), issuer.pubkey(), VALIDITY_SECS)], [authority])
    return CertWorld(chain, registry, certs, authority, oracle, issuer)


@pytest.fixture(scope="session")
def certs(registry: Registry) -> Certificates:
    return Certificates(registry_program_id=registry.program_id)


@pytest.fixture
def certs_chain(registry: Registry, certs: Certificates) -> LocalChain:
    """Registry, energy_token and certificates deployed, nothing initialized."""
    return LocalChain([registry.program, registry.token.program, certs.program], unix_timestamp=T0)


@pytest.fixture
def world(registry: Registry, certs: Certificates) -> CertWorld:
    return new_world(certs, registry)
