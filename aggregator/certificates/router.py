"""REST: owner-signed issuance requests and the indexed certificates."""

from __future__ import annotations

from fastapi import APIRouter, Query

from aggregator.certificates import repository as repo
from aggregator.certificates import service
from aggregator.certificates.schemas import Certificate, CertificateDetail, Issuance, IssueCertificate, StatusName
from aggregator.deps import AppServices, Pool
from aggregator.errors import Conflict

router = APIRouter(tags=["certificates"])


@router.post("/api/certificates", response_model=Issuance, status_code=201)
async def request_issuance(body: IssueCertificate, services: AppServices) -> Issuance:
    """Prepare a certificate for the owner's meter's minted production in an interval; the
    owner signs the returned transaction and sends it to ``POST /api/transactions``."""
    handle = services.chain_handle
    if handle is None:
        raise Conflict("no_chain", "this service runs without a chain: certificates are off")
    return await service.prepare_issuance(services.pool, handle.backend, handle.registry,
                                          services.certificate_desk, body,
                                          validate=services.settings.certificate_validate_on_issue)


@router.get("/api/certificates", response_model=list[Certificate])
async def list_certificates(pool: Pool, owner: str | None = Query(None, max_length=44),
                            meter_id: str | None = Query(None, max_length=32), status: StatusName | None = None,
                            limit: int = Query(100, ge=1, le=1000)) -> list[Certificate]:
    """Certificates as the chain recorded them (indexed), newest first; ``owner`` is the holder."""
    async with pool.acquire() as conn:
        rows = await repo.list_certificates(conn, owner=owner, meter_id=meter_id, status=status, limit=limit)
    return [Certificate(**dict(r)) for r in rows]


@router.get("/api/certificates/{certificate}", response_model=CertificateDetail)
async def get_certificate(certificate: str, services: AppServices) -> CertificateDetail:
    """One certificate by id or account address, with a blockhash for the holder's next transaction."""
    async with services.pool.acquire() as conn:
        row = await repo.get(conn, certificate)
    handle = services.chain_handle
    blockhash = str(await handle.backend.latest_blockhash()) if handle is not None else None
    return CertificateDetail(**dict(row), recent_blockhash=blockhash)
