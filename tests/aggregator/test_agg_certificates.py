"""Certificates through the aggregator on the real programs (LiteSVM) and PostgreSQL:
issuance of a meter's minted production, validated by the issuer key the app holds,
signed and relayed by the owner, indexed back; no energy certified twice."""

from __future__ import annotations

from aggregator.certificates import client as cert_client
from aggregator.chain.certificates import IssueRequest, Source, Status
from aggregator.trading.client import sign
from aggregator.services import services_of
from tests.aggregator.agg_certificates_helpers import READING_WH, Bureau, bureau, error  # noqa: F401  (fixture)


async def test_a_certificate_carries_the_interval_s_minted_production_and_is_valid(bureau: Bureau) -> None:
    p = await bureau.prosumer("solar", readings=3)
    start_at, end_at = p.first_at, p.reading_at(2)  # the two readings after the baseline
    resp = await bureau.request(p.wallet, p.meter.meter_id, start_at=start_at, end_at=end_at)
    assert resp.status_code == 201, resp.text
    prepared = resp.json()
    assert (prepared["energy_wh"], prepared["start_at"], prepared["end_at"]) == (2 * READING_WH, start_at, end_at)
    assert (prepared["sequence"], prepared["location"], prepared["validated"]) == (0, "lab", True)

    sent = await bureau.relay(cert_client.sign_issuance(p.wallet, prepared["transaction"]))
    assert sent.status_code == 201, sent.text
    assert sent.json()["instructions"] == ["issue", "validate"]
    await services_of(bureau.app).indexer.sync_once()

    cert = await bureau.get(prepared["certificate"])
    assert (cert["meter_id"], cert["owner_wallet"], cert["issued_to_wallet"]) == (
        p.meter.meter_id, str(p.wallet.pubkey()), str(p.wallet.pubkey()))
    assert (cert["energy_wh"], cert["start_at"], cert["end_at"], cert["status"]) == (
        2 * READING_WH, start_at, end_at, "valid")
    assert (cert["source"], cert["location"], cert["meter_certified_wh"]) == ("solar", "lab", 2 * READING_WH)
    chain = bureau.on_chain(prepared["certificate"])
    assert (chain.energy_wh, chain.start_at, chain.end_at, chain.owner) == (2 * READING_WH, start_at, end_at,
                                                                            p.wallet.pubkey())
    assert Status(chain.status) == Status.VALID and cert["expires_at"] == chain.expires_at
    assert cert["validated_at"] == chain.validated_at
    assert [c["address"] for c in await bureau.listing(meter_id=p.meter.meter_id)] == [prepared["certificate"]]


async def test_the_same_energy_is_never_certified_twice(bureau: Bureau) -> None:
    p = await bureau.prosumer("twice", readings=3)
    meter_id = p.meter.meter_id
    first = await bureau.issue(p, start_at=p.first_at, end_at=p.reading_at(2))

    # The same interval again, or one reaching back into it: refused by the service.
    for start_at in (p.first_at, p.reading_at(1)):
        status, reason, detail = error(await bureau.request(p.wallet, meter_id, start_at=start_at,
                                                            end_at=p.reading_at(3)))
        assert (status, reason, detail["certified_until"]) == (409, "interval_already_certified", first["end_at"])

    # An owner who builds the issue alone is refused by the program (no overlap on chain).
    meter = bureau.chain.registry.meter_address(meter_id)
    overlap = bureau.certificates.issue(p.wallet.pubkey(), IssueRequest(meter_id, p.first_at, p.reading_at(2),
                                                                         READING_WH, Source.SOLAR), 1)
    status, reason, detail = error(await bureau.relay(sign(p.wallet, [overlap], first["recent_blockhash"])))
    assert (status, reason, detail["program"], detail["name"]) == (409, "program_error", "certificates",
                                                                   "IntervalOverlaps")
    assert bureau.tracker(meter_id).next_sequence == 1
    assert bureau.chain.local.account(bureau.certificates.certificate_address(meter, 1)) is None

    # By default the request covers what is left: the last reading's 1 kWh, then nothing.
    rest = await bureau.issue(p)
    assert (rest["start_at"], rest["end_at"], rest["energy_wh"], rest["sequence"]) == (
        first["end_at"], p.reading_at(3), READING_WH, 1)
    assert rest["meter_certified_wh"] == 3 * READING_WH == bureau.tracker(meter_id).certified_wh
    status, reason, _ = error(await bureau.request(p.wallet, meter_id))
    assert (status, reason) == (409, "nothing_to_certify")
    assert len(await bureau.listing(meter_id=meter_id)) == 2


async def test_only_the_meter_s_owner_may_request_and_the_request_is_checked(bureau: Bureau) -> None:
    p = await bureau.prosumer("owner", readings=2)
    other = await bureau.prosumer("other", readings=1)
    status, reason, _ = error(await bureau.request(other.wallet, p.meter.meter_id))
    assert (status, reason) == (401, "not_owner")
    # A signature over other fields than those sent does not authorise the request.
    resp = await bureau.request(p.wallet, p.meter.meter_id, end_at=p.reading_at(1))
    assert resp.status_code == 201
    body = {"meter_id": p.meter.meter_id, "owner_wallet": str(p.wallet.pubkey()), "end_at": p.reading_at(2),
            "nonce": "x", "signature": str(p.wallet.sign_message(b"GridTokenX request_certificate"))}
    status, reason, _ = error(await bureau.http.post("/api/certificates", json=body))
    assert (status, reason) == (401, "bad_wallet_signature")
    status, reason, _ = error(await bureau.request(p.wallet, p.meter.meter_id, start_at=p.reading_at(2),
                                                   end_at=p.reading_at(1)))
    assert (status, reason) == (422, "bad_interval")
    # An interval past the meter's readings has readings nowhere: nothing to certify there.
    status, reason, _ = error(await bureau.request(p.wallet, p.meter.meter_id, start_at=p.reading_at(2),
                                                   end_at=p.reading_at(2) + 60))
    assert (status, reason) == (409, "nothing_to_certify")
    assert await bureau.listing() == []
