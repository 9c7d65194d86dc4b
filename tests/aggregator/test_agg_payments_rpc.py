"""The THB rail on a cluster (tools/localnet over JSON-RPC): the operator's mint and
authority key from the settings, checked at start; deposits mint and withdrawals burn
over RPC; without the configuration there is no rail, and half a configuration or a key
that is not the mint's authority stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.keypair import Keypair

from aggregator.chain.connect import local_chain
from aggregator.chain.errors import ChainSetupError
from aggregator.config import ThbSettings
from aggregator.payments import ledger
from aggregator.payments.token import MINT_BYTES, ThbToken
from aggregator.services import services_of
from tests.aggregator.agg_helpers import Actors
from tests.aggregator.agg_payments_helpers import (
    OPERATOR_TOKEN,
    RESERVE_ACCOUNT,
    Bank,
    import_statement,
    reference,
    reserve,
    withdraw,
)
from tests.aggregator.test_agg_minter import wait_for
from tests.aggregator.test_agg_trading_rpc import key_file, rpc_app, rpc_settings
from tests.chain.chain_world import serve_localnet


def thb_mint(chain, authority: Keypair) -> ThbToken:  # type: ignore[no-untyped-def]
    """What the operator does once on a cluster: create the 2-decimal THB mint."""
    mint = Keypair()
    token = ThbToken(mint.pubkey(), authority)
    chain.local.fund(authority.pubkey())
    chain.local.send(token.create_mint_instructions(
        authority.pubkey(), mint, chain.local.svm.minimum_balance_for_rent_exemption(MINT_BYTES)), [authority, mint])
    return token


async def test_rail_over_json_rpc_with_the_operator_s_mint_and_key(pg_dsn: str, tmp_path: Path) -> None:
    chain = local_chain()
    authority = Keypair()
    token = thb_mint(chain, authority)
    with serve_localnet(chain.local) as rpc_url:
        settings = rpc_settings(pg_dsn, rpc_url, key_file(tmp_path / "oracle.json", chain.oracle), None, [])
        settings.thb = ThbSettings(mint_authority_keypair=key_file(tmp_path / "thb.json", authority),
                                   mint=str(token.mint), operator_token=OPERATOR_TOKEN,
                                   reserve_account=RESERVE_ACCOUNT, sweep_s=0.05)
        async with rpc_app(settings) as (_, http):
            consumer = await Actors(http).user("thb-rpc", "consumer")
            ref = await reference(http, consumer)
            bank = Bank()
            resp = await import_statement(http, bank.statement([bank.entry(77_700, remittance=ref)]))
            assert resp.status_code == 200 and resp.json()["matched"] == 1, resp.text

            async def minted() -> bool:
                return (await http.get(f"/api/payments/balance/{consumer.pubkey()}")).json()["satang"] == 77_700
            await wait_for(minted)
            payout = await withdraw(http, consumer, 7_700, account_number="0123456789")
            assert payout["status"] == "burned"
            now = await reserve(http)
            assert (now["mint"], now["supply"], now["payouts_open"], now["difference"]) == (
                str(token.mint), 70_000, 7_700, 0), now


async def test_rail_configuration_on_a_cluster(pg_dsn: str, tmp_path: Path) -> None:
    chain = local_chain()
    authority = Keypair()
    token = thb_mint(chain, authority)
    with serve_localnet(chain.local) as rpc_url:
        oracle = key_file(tmp_path / "oracle.json", chain.oracle)
        settings = rpc_settings(pg_dsn, rpc_url, oracle, None, [])
        async with rpc_app(settings) as (_, http):  # nothing configured: no rail, and it says so
            resp = await http.get("/api/payments/reserve")
            assert resp.status_code == 409 and resp.json()["error"]["reason"] == "no_rail"
        for thb, message in [
            (ThbSettings(mint=str(token.mint)), "needs GTX_THB_MINT_AUTHORITY_KEYPAIR"),
            (ThbSettings(enabled=True), "needs GTX_THB_MINT_AUTHORITY_KEYPAIR"),
            (ThbSettings(mint=str(token.mint), mint_authority_keypair=key_file(tmp_path / "x.json", Keypair())),
             "whose authority is"),
        ]:
            settings = rpc_settings(pg_dsn, rpc_url, oracle, None, [])
            settings.thb = thb
            with pytest.raises(ChainSetupError, match=message):
                async with rpc_app(settings):
                    pass
        shared = tmp_path / "shared.json"
        key_file(shared, authority).chmod(0o644)
        settings = rpc_settings(pg_dsn, rpc_url, oracle, None, [])
        settings.thb = ThbSettings(mint=str(token.mint), mint_authority_keypair=shared)
        with pytest.raises(ChainSetupError, match="group or others may read it"):
            async with rpc_app(settings):
                pass


async def test_a_mint_recorded_before_a_stop_lands_once_after_the_restart(pg_dsn: str, tmp_path: Path) -> None:
    """Signed and recorded, then the process stopped: unsent (resent on restart) and sent
    but not recorded as minted (found on chain on restart). Each deposit mints once."""
    chain = local_chain()
    authority = Keypair()
    token = thb_mint(chain, authority)
    with serve_localnet(chain.local) as rpc_url:
        settings = rpc_settings(pg_dsn, rpc_url, key_file(tmp_path / "oracle.json", chain.oracle), None, [])
        settings.thb = ThbSettings(mint_authority_keypair=key_file(tmp_path / "thb.json", authority),
                                   mint=str(token.mint), operator_token=OPERATOR_TOKEN,
                                   reserve_account=RESERVE_ACCOUNT, sweep_s=3600)
        bank = Bank()
        async with rpc_app(settings) as (app, http):
            unsent = await Actors(http).user("thb-crash-unsent", "consumer")
            sent = await Actors(http).user("thb-crash-sent", "consumer")
            refs = [await reference(http, w) for w in (unsent, sent)]
            rail = services_of(app).rail
            assert rail is not None
            # Booked by another process (the CLI): the sweep (hourly here) has not minted them.
            await ledger.import_file(rail.pool, bank.statement([bank.entry(1_111, remittance=refs[0]),
                                                                bank.entry(2_222, remittance=refs[1])]),
                                     settings.thb, source="test")
            async with rail.pool.acquire() as conn:
                signed = await rail.sign_mints(conn)
            assert len(signed) == 2
            result = await rail.backend.send_signed(signed[1][1])  # the second one went out, then the stop
            assert result.ok
        async with rpc_app(settings) as (app, http):
            async def both_minted() -> bool:
                balances = [(await http.get(f"/api/payments/balance/{w.pubkey()}")).json()["satang"]
                            for w in (unsent, sent)]
                return balances == [1_111, 2_222]
            await wait_for(both_minted)
            now = await reserve(http)
            assert now["supply"] == 3_333 and now["difference"] == 0 and now["in_flight"] == 0, now
