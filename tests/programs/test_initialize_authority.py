"""Initialization is reserved to each program's upgrade authority (named in its ProgramData
account under the upgradeable BPF loader), so nobody can front-run it at a deployed id."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from aggregator.chain import LocalChain, Registry
from aggregator.chain.certificates import Certificates
from aggregator.chain.programs import localnet_deployer, program_data_address
from tests.programs.test_registry_program import expect_error, with_account

REGISTRY = Registry()
CERTIFICATES = Certificates()


def initializers(authority, oracle):
    """(name, instruction, index of the program_data account) for every program with an initialize."""
    return [("registry", REGISTRY.initialize(authority, oracle), 3),
            ("energy_token", REGISTRY.token.initialize(authority), 6),
            ("certificates", CERTIFICATES.initialize(authority, oracle, 3600), 3)]


def fresh_chain(**kwargs) -> LocalChain:
    return LocalChain([REGISTRY.program, REGISTRY.token.program, CERTIFICATES.program], **kwargs)


@pytest.mark.parametrize("which", ["registry", "energy_token", "certificates"])
def test_a_front_runners_initialize_is_refused_and_the_deployer_initializes(which):
    chain = fresh_chain()
    front_runner, oracle = chain.new_funded_keypair(), Keypair()
    ix = {n: i for n, i, _ in initializers(front_runner.pubkey(), oracle.pubkey())}[which]
    expect_error(chain.send([ix], [front_runner], check=False), 6012, "NotUpgradeAuthority")
    deployer = chain.deployer()
    assert deployer.pubkey() == localnet_deployer().pubkey() == chain.upgrade_authority
    ix = {n: i for n, i, _ in initializers(deployer.pubkey(), oracle.pubkey())}[which]
    assert chain.send([ix], [deployer]).ok


@pytest.mark.parametrize("which", ["registry", "energy_token", "certificates"])
def test_a_forged_program_data_account_is_refused(which):
    """Another program's ProgramData (whose authority the attacker may hold), or any account, is refused."""
    attacker = Keypair()
    chain = fresh_chain(upgrade_authority=attacker.pubkey())
    chain.fund(attacker.pubkey())
    oracle = Keypair()
    name, ix, index = next(t for t in initializers(attacker.pubkey(), oracle.pubkey()) if t[0] == which)
    other = {"registry": CERTIFICATES.program, "energy_token": REGISTRY.program,
             "certificates": REGISTRY.program}[name]
    for forged in (program_data_address(other.program_id), attacker.pubkey(), Keypair().pubkey()):
        expect_error(chain.send([with_account(ix, index, forged)], [attacker], check=False), 6012,
                     "NotUpgradeAuthority")
    assert chain.send([ix], [attacker]).ok  # the real ProgramData names the attacker here: allowed


def test_whoever_holds_the_upgrade_authority_is_the_one_accepted():
    owner = Keypair()
    chain = fresh_chain(upgrade_authority=owner.pubkey())
    chain.fund(owner.pubkey())
    deployer, oracle = chain.deployer(), Keypair()  # the localnet key is not this chain's authority
    for _, ix, _ in initializers(deployer.pubkey(), oracle.pubkey()):
        expect_error(chain.send([ix], [deployer], check=False), 6012, "NotUpgradeAuthority")
    assert chain.send([ix for _, ix, _ in initializers(owner.pubkey(), oracle.pubkey())], [owner]).ok
