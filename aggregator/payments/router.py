"""REST of the THB rail (amounts in satang; 100 satang = 1 THB).

| route | who | what |
|---|---|---|
| `POST /api/payments/references` | anyone, for a registered wallet | the wallet's deposit reference |
| `POST /api/payments/statements` | operator | import a camt.053/054 file (XML body) |
| `POST /api/payments/withdrawals` | the wallet | a payout request and the burn to sign |
| `POST /api/payments/withdrawals/{id}/burn` | the wallet | send the signed burn |
| `GET /api/payments/withdrawals/{id}` | the wallet (read token), operator, admin | a payout's status |
| `POST /api/payments/payout-files` | operator | a pain.001 of every burned payout |
| `GET /api/payments/payout-files/{id}` | operator | that file's XML |
| `GET /api/payments/balance/{wallet}` | anyone | the wallet's THB (a public chain account) |
| `GET /api/payments/reserve` | anyone | bank balance against THB supply, now and per day |
| `GET /api/payments/events` | operator | the audit trail |

A withdrawal is only ever paid after its burn landed: the wallet signs the burn the service
returns (exactly that amount of THB from its own account), so nobody can withdraw
another's THB, and a payout request alone moves no money.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from aggregator.deps import AppServices
from aggregator.errors import Conflict, NotFound, ValidationFailed
from aggregator.payments import ledger
from aggregator.payments.iso20022 import MAX_FILE_BYTES
from aggregator.payments.operator import require_operator
from aggregator.payments.rail import BankFileRail
from aggregator.payments.schemas import (
    BurnRequest,
    ImportSummary,
    Payout,
    PayoutFile,
    ReferenceRequest,
    ReferenceResponse,
    WithdrawalCreated,
    WithdrawalRequest,
)
from aggregator.users.challenge import parse_wallet
from aggregator.users.tokens import Reader, require_wallet

router = APIRouter(tags=["payments"])


def _rail(services: AppServices) -> BankFileRail:
    rail = getattr(services, "rail", None)
    if rail is None:
        raise Conflict("no_rail", "this service runs without the THB rail (no chain, or GTX_THB_ENABLED=false)")
    return rail  # type: ignore[no-any-return]


TheRail = Annotated[BankFileRail, Depends(_rail)]


def _operator(rail: TheRail, authorization: Annotated[str | None, Header()] = None) -> None:
    require_operator(authorization, rail.settings)


Operator = Depends(_operator)


def _payout(row: Any) -> Payout:
    return Payout(**{k: row[k] for k in Payout.model_fields})


@router.post("/api/payments/references", response_model=ReferenceResponse)
async def reference(body: ReferenceRequest, rail: TheRail) -> ReferenceResponse:
    return ReferenceResponse(wallet=body.wallet, reference=await rail.reference_for(body.wallet))


@router.post("/api/payments/statements", response_model=ImportSummary, dependencies=[Operator])
async def import_statement(request: Request, rail: TheRail) -> ImportSummary:
    data = await request.body()
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed("statement_too_large", f"at most {MAX_FILE_BYTES} bytes")
    if not data:
        raise ValidationFailed("not_xml", "send the camt.053/054 file as the request body")
    result = await rail.import_file(data, source="api")
    return ImportSummary(**result.as_dict())


@router.post("/api/payments/withdrawals", response_model=WithdrawalCreated, status_code=201)
async def request_withdrawal(body: WithdrawalRequest, rail: TheRail) -> WithdrawalCreated:
    row, tx = await rail.request_withdrawal(body.wallet, body.amount_satang, name=body.creditor_name,
                                            iban=body.iban, account_number=body.account_number, bic=body.bic)
    return WithdrawalCreated(payout=_payout(row), transaction=tx)


@router.post("/api/payments/withdrawals/{payout_id}/burn", response_model=Payout)
async def submit_burn(payout_id: int, body: BurnRequest, rail: TheRail) -> Payout:
    return _payout(await rail.submit_burn(payout_id, body.transaction))


@router.get("/api/payments/withdrawals/{payout_id}", response_model=Payout)
async def get_withdrawal(payout_id: int, reader: Reader, rail: TheRail) -> Payout:
    """A payout's status (with the bank account it goes to): the wallet's own, the grid
    operator's and admins' to read."""
    async with rail.pool.acquire() as conn:
        row = await ledger.payout(conn, payout_id)
    require_wallet(reader, row["wallet"])
    return _payout(row)


@router.post("/api/payments/payout-files", response_model=PayoutFile | None, dependencies=[Operator])
async def produce_payout_file(rail: TheRail, response: Response) -> PayoutFile | None:
    row = await rail.produce_file()
    if row is None:
        response.status_code = 200
        return None
    response.status_code = 201
    return PayoutFile(**{k: row[k] for k in PayoutFile.model_fields})


@router.get("/api/payments/payout-files/{file_id}", dependencies=[Operator])
async def get_payout_file(file_id: int, rail: TheRail) -> Response:
    async with rail.pool.acquire() as conn:
        xml = await conn.fetchval("SELECT xml FROM payout_files WHERE id = $1", file_id)
    if xml is None:
        raise NotFound("unknown_payout_file", f"no payout file {file_id}")
    return Response(xml, media_type="application/xml")


@router.get("/api/payments/balance/{wallet}")
async def balance(wallet: str, rail: TheRail) -> dict[str, Any]:
    """The wallet's THB on chain (satang)."""
    return {"wallet": wallet, "satang": await rail.balance(parse_wallet(wallet)), "mint": str(rail.token.mint)}


@router.get("/api/payments/reserve")
async def reserve(rail: TheRail) -> dict[str, Any]:
    return await rail.reserve()


@router.get("/api/payments/events", dependencies=[Operator])
async def events(rail: TheRail, wallet: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    async with rail.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT id, at, kind, wallet, amount_satang, entry_id, payout_id, statement_id, detail::text AS detail
               FROM payment_events WHERE ($1::text IS NULL OR wallet = $1) ORDER BY id DESC LIMIT $2""",
            wallet, min(max(limit, 1), 1000))
    return [dict(r) for r in rows]
