"""Certificates over JSON-RPC: the app opens the chain and the issuer key from its settings
(``GTX_CHAIN_BACKEND=rpc``, ``GTX_CHAIN_ISSUER_KEYPAIR``) and talks to tools/localnet (the
real programs in LiteSVM behind Solana JSON-RPC). Readings are minted, a certificate is
requested, signed by the owner, relayed, indexed and retired, all over RPC; start-up
refuses an issuer key the program does not name."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from aggregator.certificates import client as cert_client
from aggregator.chain import PROSUMER, LocalChain, Registry
from aggregator.chain.certificates import Certificates
from aggregator.chain.connect import deployed_programs
from aggregator.chain.errors import ChainSetupError
from aggregator.config import ChainSettings, Settings
from tests.aggregator.agg_helpers import ADMIN_WALLET, Actors
from tests.aggregator.test_agg_minter import submit, wait_for
from tests.aggregator.test_agg_trading_rpc import key_file, rpc_app
from tests.chain.chain_world import serve_localnet
from tools.wallet import signed_challenge

REGISTRY = Registry()
CERTIFICATES = Certificates(registry_program_id=REGISTRY.program_id)


def settings_for(dsn: str, rpc_url: str, oracle: Path, issuer: Path) -> Settings:
    return Settings(database_url=dsn, log_json=True, log_level="WARNING", indexer_poll_s=0.02, mint_sweep_s=3600,
                    admin_wallets=frozenset({ADMIN_WALLET}),
                    matcher_enabled=False,
                    chain=ChainSettings(backend="rpc", rpc_url=rpc_url, oracle_keypair=oracle, issuer_keypair=issuer))


def cluster(tmp_path: Path) -> tuple[LocalChain, Keypair, Path, Path]:
    """Registry, GRID mint and certificates initialised, as an operator does once on a cluster."""
    chain = LocalChain(deployed_programs())
    authority, oracle, issuer = chain.deployer(), chain.new_funded_keypair(), chain.new_funded_keypair()
    chain.send([REGISTRY.initialize(authority.pubkey(), oracle.pubkey()),
                REGISTRY.token.initialize(authority.pubkey()),
                CERTIFICATES.initialize(authority.pubkey(), issuer.pubkey(), 365 * 24 * 3600)], [authority])
    return chain, issuer, key_file(tmp_path / "oracle.json", oracle), key_file(tmp_path / "issuer.json", issuer)


async def test_minted_production_is_certified_and_retired_over_json_rpc(pg_dsn: str, tmp_path: Path) -> None:
    chain, _, oracle, issuer = cluster(tmp_path)
    with serve_localnet(chain) as url:
        async with rpc_app(settings_for(pg_dsn, url, oracle, issuer)) as (app, http):
            actors = Actors(http)
            owner = await actors.user("rpc-solar")
            meter = await actors.meter(owner, "MTR-RPC-CERT")
            chain.fund(owner.pubkey())
            chain.send([REGISTRY.register_user(owner.pubkey(), PROSUMER),
                        REGISTRY.register_meter(owner.pubkey(), meter.meter_id,
                                                bytes.fromhex(meter.public_key_hex), "lab")], [owner])
            await submit(http, [meter.next(imp_delta=0, exp_delta=1_000) for _ in range(4)])

            async def minted() -> bool:
                batches = (await http.get("/api/mints")).json()
                return bool(batches) and all(b["state"] == "confirmed" for b in batches)

            await wait_for(minted)
            fields = {"meter_id": meter.meter_id, "source": "solar", "start_at": "", "end_at": ""}
            nonce, signature = await signed_challenge(http, owner, "request_certificate", fields)
            resp = await http.post("/api/certificates", json={
                "meter_id": meter.meter_id, "owner_wallet": str(owner.pubkey()), "start_at": None, "end_at": None,
                "source": "solar", "nonce": nonce, "signature": signature})
            assert resp.status_code == 201, resp.text
            prepared = resp.json()
            assert prepared["energy_wh"] == 3 * 1_000 and prepared["validated"] is True

            sent = await http.post("/api/transactions",
                                   json={"transaction": cert_client.sign_issuance(owner, prepared["transaction"])})
            assert sent.status_code == 201, sent.text

            async def indexed(status: str) -> bool:
                resp = await http.get(f"/api/certificates/{prepared['certificate']}")
                return resp.status_code == 200 and resp.json()["status"] == status

            await wait_for(lambda: indexed("valid"))
            blockhash = (await http.get(f"/api/certificates/{prepared['certificate']}")).json()["recent_blockhash"]
            retired = await http.post("/api/transactions", json={
                "transaction": cert_client.retire_tx(owner, prepared["certificate"], blockhash, CERTIFICATES)})
            assert retired.status_code == 201, retired.text
            await wait_for(lambda: indexed("retired"))

    # The chain agrees with what the API served.
    on_chain = CERTIFICATES.decode(bytes(chain.account(Pubkey.from_string(prepared["certificate"])).data))
    assert (on_chain.energy_wh, on_chain.owner) == (3 * 1_000, owner.pubkey())


async def test_an_issuer_key_the_program_does_not_name_stops_start_up(pg_dsn: str, tmp_path: Path) -> None:
    chain, _, oracle, _ = cluster(tmp_path)
    stranger = key_file(tmp_path / "stranger.json", Keypair())
    with serve_localnet(chain) as url:
        with pytest.raises(ChainSetupError, match="but the certificates program's issuer is"):
            async with rpc_app(settings_for(pg_dsn, url, oracle, stranger)):
                pass
