"""Certificate issuance: what a meter may still certify, from its stored, minted readings.

Issuing is the meter owner's instruction (the program requires the owner's signature),
so the service never holds it: it prepares the ``issue`` transaction for an interval of
the owner's meter, with the Wh the meter's minted readings produced there, and (unless
turned off) adds ``validate`` signed by the issuer key it holds. The issuer's signature
covers the whole message, so the owner can send exactly this issuance or nothing: it
cannot change the Wh and keep the validation. The owner signs and relays it through
``POST /api/transactions``; the indexer then records what the chain did.

Refusals, each with its reason code (checked before anything is signed):

| reason | HTTP | refused when |
|---|---|---|
| `no_issuer` | 409 | this service holds no issuer key (or serves no certificates program) |
| `not_owner` | 401 | the wallet is not the meter's owner (in this database, or on chain) |
| `meter_not_on_chain` / `meter_inactive` | 409 | the registry has no such meter / it is not active |
| `bad_interval` | 422 | `start_at >= end_at` |
| `interval_already_certified` | 409 | the interval starts before the end of the meter's last certificate |
| `interval_not_minted` | 409 | a reading in the interval is not minted yet (not on the chain's counters) |
| `interval_not_metered` | 409 | the interval ends after the meter's last reading on chain |
| `nothing_to_certify` | 409 | no minted production in the interval is left to certify |
| `insufficient_generation` | 409 | the chain's uncertified production is less than the readings say |

The program enforces the same bounds again (no overlap, certified Wh within recorded
production), so an issuance prepared twice lands at most once.
"""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from aggregator.certificates import repository as repo
from aggregator.certificates.desk import CertificateDesk
from aggregator.certificates.schemas import Issuance, IssueCertificate
from aggregator.chain.backend import ChainBackend
from aggregator.chain.certificates import IssueRequest, Source
from aggregator.chain.programs import from_label
from aggregator.chain.registry import Registry
from aggregator.errors import AuthError, Conflict, ValidationFailed
from aggregator.meters import repository as meters_repo
from aggregator.users import challenge

METER_ACTIVE = 1  # the registry's status of an active meter


async def prepare_issuance(pool: asyncpg.Pool, backend: ChainBackend, registry: Registry, desk: CertificateDesk | None,
                           body: IssueCertificate, *, validate: bool) -> Issuance:
    if desk is None or desk.issuer is None:
        raise Conflict("no_issuer", "this service holds no certificate issuer key: issuance is off")
    certificates = desk.certificates
    async with pool.acquire() as conn:  # spent once verified, whatever happens next
        await challenge.consume(conn, wallet=body.owner_wallet, purpose="request_certificate", nonce=body.nonce,
                                signature_b58=body.signature, fields=body.signed_fields())
    async with pool.acquire() as conn, conn.transaction():
        meter_row = await meters_repo.get(conn, body.meter_id)
        if meter_row["owner_wallet"] != body.owner_wallet:
            raise AuthError("not_owner", "only the meter's owner can ask for its certificates")
        owner = Pubkey.from_string(body.owner_wallet)
        meter, tracker = await _chain_meter(backend, registry, certificates, body.meter_id, owner)
        start_at, end_at = await _interval(conn, body, tracker)
        produced = await repo.interval_production(conn, body.meter_id, start_at, end_at)
    if produced["unminted"]:
        raise Conflict("interval_not_minted", f"{produced['unminted']} readings in the interval are not minted yet",
                       unminted=produced["unminted"])
    energy_wh = produced["minted_wh"]
    if energy_wh == 0:
        raise Conflict("nothing_to_certify", "the meter produced nothing in the interval", start_at=start_at,
                       end_at=end_at)
    if end_at > meter.last_reading_at:
        raise Conflict("interval_not_metered", "the interval ends after the meter's last reading on chain",
                       last_reading_at=meter.last_reading_at)
    uncertified_wh = meter.total_production_wh - (tracker.certified_wh if tracker else 0)
    if energy_wh > uncertified_wh:
        raise Conflict("insufficient_generation", f"the readings say {energy_wh} Wh, the chain has {uncertified_wh} "
                       f"Wh of production not yet certified", energy_wh=energy_wh, uncertified_wh=uncertified_wh)

    sequence = tracker.next_sequence if tracker else 0
    source = Source[body.source.upper()]
    ixs = [certificates.issue(owner, IssueRequest(body.meter_id, start_at, end_at, energy_wh, source), sequence)]
    address = certificates.certificate_address(registry.meter_address(body.meter_id), sequence)
    if validate:
        ixs.append(certificates.validate(desk.issuer.pubkey(), address))
    blockhash = await backend.latest_blockhash()
    tx = Transaction.new_unsigned(Message.new_with_blockhash(ixs, owner, blockhash))
    if validate:
        tx.partial_sign([desk.issuer], blockhash)
    return Issuance(meter_id=body.meter_id, certificate=str(address), sequence=sequence, start_at=start_at,
                    end_at=end_at, energy_wh=energy_wh, source=body.source, location=from_label(meter.location),
                    validated=validate, transaction=base64.b64encode(bytes(tx)).decode(),
                    recent_blockhash=str(blockhash))


async def _chain_meter(backend: ChainBackend, registry: Registry, certificates: Any, meter_id: str,
                       owner: Pubkey) -> tuple[Any, Any]:
    """The registry's meter account and the meter's issuance tracker (None before its first certificate)."""
    meter_address = registry.meter_address(meter_id)
    meter_acc, tracker_acc = await backend.accounts([meter_address, certificates.tracker_address(meter_address)])
    if meter_acc is None:
        raise Conflict("meter_not_on_chain", f"the registry has no meter {meter_id}")
    meter = registry.decode(bytes(meter_acc.data))
    if meter.owner != owner:
        raise AuthError("not_owner", f"the registry names {meter.owner} as the meter's owner")
    if meter.status != METER_ACTIVE:
        raise Conflict("meter_inactive", f"meter {meter_id} is not active on chain")
    # The tracker's address may hold lamports before the tracker exists: only its data counts.
    tracker = certificates.decode(bytes(tracker_acc.data)) if tracker_acc is not None and tracker_acc.data else None
    return meter, tracker


async def _interval(conn: asyncpg.Connection, body: IssueCertificate, tracker: Any) -> tuple[int, int]:
    """The requested interval, defaults filled in: from the end of the last certificate (or
    the first reading) to the newest minted reading."""
    span = await repo.reading_span(conn, body.meter_id)
    start_at = body.start_at
    if start_at is None:
        start_at = tracker.last_end_at if tracker else span["first_at"]
    end_at = body.end_at if body.end_at is not None else span["last_minted_at"]
    if start_at is None or end_at is None:
        raise Conflict("nothing_to_certify", f"meter {body.meter_id} has no minted readings")
    if start_at >= end_at:
        if body.start_at is None or body.end_at is None:
            raise Conflict("nothing_to_certify", "no minted production after the meter's last certificate",
                           start_at=start_at, end_at=end_at)
        raise ValidationFailed("bad_interval", "start_at must be before end_at")
    if tracker is not None and start_at < tracker.last_end_at:
        raise Conflict("interval_already_certified", "the interval starts before the end of the meter's last "
                       "certificate: that energy is certified already", certified_until=tracker.last_end_at)
    return start_at, end_at
