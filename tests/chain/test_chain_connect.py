"""Opening the configured chain: the LiteSVM default comes up initialised; a JSON-RPC chain
is checked before use and every misconfiguration is refused with a message that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from aggregator.chain import LocalChain
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.connect import deployed_programs, load_keypair, local_chain, open_chain
from aggregator.config import ChainSettings
from tests.chain.chain_world import REGISTRY, serve_localnet


def write_keypair(path: Path, kp: Keypair) -> Path:
    path.write_text(json.dumps(list(bytes(kp))))
    path.chmod(0o600)
    return path


async def test_litesvm_default_is_initialised_with_its_oracle() -> None:
    chain = await open_chain(ChainSettings())
    assert chain is not None and chain.local is not None
    config = REGISTRY.decode(chain.local.account(REGISTRY.config_address()).data)
    assert config.oracle_authority == chain.oracle.pubkey()
    assert chain.local.account(REGISTRY.token.mint_address()) is not None
    assert {p.name for p in chain.local.programs.values()} >= {"registry", "energy_token"}
    await chain.close()
    assert await open_chain(ChainSettings(backend="none")) is None


def test_rpc_settings_need_url_and_key() -> None:
    with pytest.raises(ValueError, match="GTX_CHAIN_RPC_URL and GTX_CHAIN_ORACLE_KEYPAIR"):
        ChainSettings(backend="rpc", rpc_url="http://127.0.0.1:8899")


def test_unreadable_keypairs_are_named(tmp_path: Path) -> None:
    with pytest.raises(ChainSetupError, match="cannot read keypair .*missing.json"):
        load_keypair(tmp_path / "missing.json")
    (tmp_path / "short.json").write_text("[1, 2, 3]")
    with pytest.raises(ChainSetupError, match="short.json"):
        load_keypair(tmp_path / "short.json")


async def test_rpc_chain_is_checked_before_use(tmp_path: Path) -> None:
    oracle = Keypair()
    key = write_keypair(tmp_path / "oracle.json", oracle)
    local = LocalChain(deployed_programs())
    with serve_localnet(local) as url:
        settings = ChainSettings(backend="rpc", rpc_url=url, oracle_keypair=key)
        with pytest.raises(ChainSetupError, match="is not initialised"):
            await open_chain(settings)

        authority = local.deployer()
        other = Keypair()
        local.send([REGISTRY.initialize(authority.pubkey(), other.pubkey())], [authority])
        with pytest.raises(ChainSetupError, match=f"registry's oracle is {other.pubkey()}"):
            await open_chain(settings)

        good = await open_chain(ChainSettings(backend="rpc", rpc_url=url,
                                              oracle_keypair=write_keypair(tmp_path / "other.json", other)))
        assert good is not None and good.local is None and good.oracle.pubkey() == other.pubkey()
        await good.close()

    with pytest.raises(ChainSetupError, match="cannot reach the chain"):
        await open_chain(ChainSettings(backend="rpc", rpc_url=url, oracle_keypair=key))


def test_local_chain_needs_the_built_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aggregator.chain import programs

    monkeypatch.setattr(programs, "DEPLOY_DIR", tmp_path)
    with pytest.raises(ChainSetupError, match=r"registry\.so is missing: build the programs with `./gtx build`"):
        local_chain()
