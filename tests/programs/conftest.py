"""Fixtures for program tests: a fresh LiteSVM with the real programs per test."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from aggregator.chain import EnergyToken, LocalChain, Registry

CHAIN_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z, so timestamps are predictable


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="session")
def token(registry: Registry) -> EnergyToken:
    return registry.token


@pytest.fixture
def chain(registry: Registry) -> LocalChain:
    return LocalChain([registry.program, registry.token.program], unix_timestamp=CHAIN_TIME)


@pytest.fixture
def authority(chain: LocalChain) -> Keypair:
    """The programs' upgrade authority: the only key their initialize accepts."""
    return chain.deployer()


@pytest.fixture
def oracle() -> Keypair:
    return Keypair()


@pytest.fixture
def initialized(chain: LocalChain, registry: Registry, authority: Keypair, oracle: Keypair) -> LocalChain:
    chain.send([registry.initialize(authority.pubkey(), oracle.pubkey()),
                registry.token.initialize(authority.pubkey())], [authority])
    return chain
