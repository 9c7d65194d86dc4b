"""Certificates held and used with the owners' own keys: transfer and retire relayed only
when the holder signed them; what the relay refuses; the read API agrees with the chain;
and a restarted app (same chain, same database) duplicates nothing."""

from __future__ import annotations

import base64

from solders.message import Message
from solders.transaction import Transaction

from aggregator.certificates import client as cert_client
from aggregator.certificates import local_certificate_desk
from aggregator.chain.certificates import Status
from aggregator.chain.connect import local_chain
from aggregator.indexer import repository as indexer_repo
from aggregator.trading import local_desk
from aggregator.trading.client import sign
from aggregator.services import services_of
from tests.aggregator.agg_certificates_helpers import (READING_WH, Bureau, bureau, error,  # noqa: F401  (fixture)
                                                       running_app)


async def test_the_holder_transfers_and_the_new_holder_retires(bureau: Bureau) -> None:
    p = await bureau.prosumer("seller", readings=2)
    buyer, thief = bureau.stranger(), bureau.stranger()
    cert = await bureau.issue(p)
    address = cert["address"]

    # Someone else signs a transfer of it: the program refuses (the relay passes only
    # well-signed transactions, and this one is well signed, by the wrong key).
    status, reason, detail = error(await bureau.transfer(thief, address, thief.pubkey()))
    assert (status, reason, detail["name"]) == (409, "program_error", "NotCertificateOwner")
    # A transfer naming the holder but signed by another key never reaches the chain.
    ix = bureau.certificates.transfer(p.wallet.pubkey(), bureau.on_chain_address(address), thief.pubkey())
    message = Message.new_with_blockhash([ix], p.wallet.pubkey(), bureau.chain.local.recent_blockhash())
    forged = Transaction.populate(message, [thief.sign_message(bytes(message))])
    status, reason, _ = error(await bureau.relay(base64.b64encode(bytes(forged)).decode()))
    assert (status, reason) == (401, "bad_signature")

    sent = await bureau.transfer(p.wallet, address, buyer.pubkey())
    assert sent.status_code == 201 and sent.json()["instructions"] == ["transfer"], sent.text
    await services_of(bureau.app).indexer.sync_once()
    assert (await bureau.get(address))["owner_wallet"] == str(buyer.pubkey())
    assert [c["address"] for c in await bureau.listing(owner=str(buyer.pubkey()))] == [address]
    assert await bureau.listing(owner=str(p.wallet.pubkey())) == []

    # The former holder can no longer retire it; the new holder can, once.
    status, reason, detail = error(await bureau.retire(p.wallet, address))
    assert (status, reason, detail["name"]) == (409, "program_error", "NotCertificateOwner")
    sent = await bureau.retire(buyer, address)
    assert sent.status_code == 201 and sent.json()["instructions"] == ["retire"], sent.text
    status, reason, detail = error(await bureau.retire(buyer, address))
    assert (status, reason, detail["name"]) == (409, "program_error", "CertificateNotValid")
    await services_of(bureau.app).indexer.sync_once()

    retired = await bureau.get(address)
    chain = bureau.on_chain(address)
    assert Status(chain.status) == Status.RETIRED and chain.owner == buyer.pubkey()
    assert (retired["status"], retired["owner_wallet"], retired["closed_at"]) == ("retired", str(buyer.pubkey()),
                                                                                   chain.closed_at)
    assert (retired["energy_wh"], retired["issued_to_wallet"]) == (2 * READING_WH, str(p.wallet.pubkey()))
    assert [c["address"] for c in await bureau.listing(status="retired")] == [address]
    assert await bureau.listing(status="valid") == []
    names = [e["name"] for e in (await bureau.http.get("/api/chain/events",
                                                       params={"meter_id": p.meter.meter_id})).json()]
    assert "CertificateIssued" in names


async def test_the_relay_passes_only_what_a_user_may_sign(bureau: Bureau) -> None:
    p = await bureau.prosumer("plain", readings=1)
    cert = await bureau.issue(p)
    address = bureau.on_chain_address(cert["address"])
    blockhash = cert["recent_blockhash"]
    # revoke is the issuer's or the governance's: not relayed at all.
    status, reason, detail = error(await bureau.relay(sign(p.wallet, [bureau.certificates.revoke(
        p.wallet.pubkey(), address, 1)], blockhash)))
    assert (status, reason, detail["name"]) == (422, "instruction_not_allowed", "revoke")
    # A user naming themselves as the issuer is refused by the program.
    status, reason, detail = error(await bureau.relay(sign(p.wallet, [bureau.certificates.validate(
        p.wallet.pubkey(), address)], blockhash)))
    assert (status, reason, detail["name"]) == (409, "program_error", "Unauthorized")
    assert Status(bureau.on_chain(cert["address"]).status) == Status.VALID


async def test_issuance_without_validation_stays_pending_and_without_issuer_is_refused(pg_dsn: str) -> None:
    chain = local_chain()
    desk, certificates = local_desk(chain), local_certificate_desk(chain)
    async with running_app(pg_dsn, chain, desk, certificates, validate_on_issue=False) as (app, http):
        floor = Bureau(app, http, chain, certificates)
        p = await floor.prosumer("pending", readings=1)
        resp = await floor.request(p.wallet, p.meter.meter_id)
        assert resp.status_code == 201 and resp.json()["validated"] is False
        sent = await floor.relay(cert_client.sign_issuance(p.wallet, resp.json()["transaction"]))
        assert sent.json()["instructions"] == ["issue"], sent.text
        await services_of(app).indexer.sync_once()
        cert = await floor.get(resp.json()["certificate"])
        assert (cert["status"], cert["validated_at"]) == ("pending", None)
        # Pending certificates cannot be traded.
        status, reason, detail = error(await floor.transfer(p.wallet, cert["address"], floor.stranger().pubkey()))
        assert (status, reason, detail["name"]) == (409, "program_error", "CertificateNotValid")
    # The same chain served by an app without the issuer key: certificates are read, not issued.
    async with running_app(pg_dsn, chain, desk, None) as (app, http):
        assert services_of(app).certificate_desk.issuer is None
        floor = Bureau(app, http, chain, services_of(app).certificate_desk)
        status, reason, _ = error(await floor.request(p.wallet, p.meter.meter_id))
        assert (status, reason) == (409, "no_issuer")
        assert [c["address"] for c in await floor.listing()] == [cert["address"]]


async def test_a_restarted_app_indexes_nothing_twice(pg_dsn: str) -> None:
    chain = local_chain()
    desk, certificates = local_desk(chain), local_certificate_desk(chain)
    async with running_app(pg_dsn, chain, desk, certificates) as (app, http):
        floor = Bureau(app, http, chain, certificates)
        p = await floor.prosumer("restart", readings=2)
        first = await floor.issue(p, start_at=p.first_at, end_at=p.reading_at(1))
        buyer = floor.stranger()
        assert (await floor.transfer(p.wallet, first["address"], buyer.pubkey())).status_code == 201
        await services_of(app).indexer.sync_once()
        before = await floor.listing()
        async with services_of(app).pool.acquire() as conn:
            events_before = await conn.fetchval("SELECT count(*) FROM chain_events WHERE program = 'certificates'")

    # Same chain, same database, same issuer: a new process re-reads all history.
    async with running_app(pg_dsn, chain, desk, certificates) as (app, http):
        floor = Bureau(app, http, chain, certificates)
        async with services_of(app).pool.acquire() as conn:
            await indexer_repo.reset_cursors(conn)
        await services_of(app).indexer.sync_once()
        assert await floor.listing() == before
        second = await floor.issue(p)  # issuance goes on where the chain left off
        assert (second["sequence"], second["start_at"], second["energy_wh"]) == (1, first["end_at"], READING_WH)
        assert (await floor.retire(buyer, first["address"])).status_code == 201
        await services_of(app).indexer.sync_once()
        async with services_of(app).pool.acquire() as conn:
            events = await conn.fetchval("SELECT count(*) FROM chain_events WHERE program = 'certificates'")
            rows = await conn.fetchval("SELECT count(*) FROM certificates")
        # Three new events (the second certificate issued and validated, the first retired),
        # none stored twice; two certificate rows.
        assert events == events_before + 3 and rows == 2
        listed = {c["address"]: c for c in await floor.listing()}
        assert listed[first["address"]]["status"] == "retired" and listed[second["address"]]["status"] == "valid"
        for address, row in listed.items():
            chain_cert = floor.on_chain(address)
            assert (row["owner_wallet"], row["energy_wh"], row["start_at"], row["end_at"]) == (
                str(chain_cert.owner), chain_cert.energy_wh, chain_cert.start_at, chain_cert.end_at)
            assert row["status"] == Status(chain_cert.status).name.lower()
