"""HTTP ingest: one envelope (seed 004 path) or a batch.

Bodies are the envelopes themselves so the bytes stored are the bytes sent:

* ``POST /api/meters/submit-reading`` — body is one wire message (JSON object).
* ``POST /api/meters/submit-readings`` — ``application/x-ndjson`` (one wire message per
  line, stored verbatim) or ``application/json`` (an array of wire objects, stored in
  their compact re-encoding; the signature covers the payload, so it still verifies).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from aggregator.deps import Ingest
from aggregator.errors import PayloadTooLarge, ReadingRejected, ValidationFailed
from aggregator.readings.reasons import http_status
from aggregator.readings.schemas import ENVELOPE_SCHEMA, BatchResult, ItemRejection, SubmitResult
from aggregator.readings.service import Submission

router = APIRouter(tags=["readings"])

_ONE = {"requestBody": {"required": True, "content": {"application/json": {"schema": ENVELOPE_SCHEMA}}}}
_MANY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": ENVELOPE_SCHEMA}},
            "application/x-ndjson": {"schema": {"type": "string", "description": "one envelope per line"}},
        },
    }
}


@router.post("/api/meters/submit-reading", response_model=SubmitResult, status_code=201, openapi_extra=_ONE)
async def submit_reading(request: Request, service: Ingest) -> SubmitResult:
    raw = await request.body()
    [outcome] = await service.ingest([Submission(raw, "http")])
    if outcome.status == "rejected":
        assert outcome.reason is not None
        raise ReadingRejected(
            outcome.reason, outcome.detail or outcome.reason, status=http_status(outcome.reason),
            meter_id=outcome.meter_id, seq=outcome.seq,
        )
    assert outcome.meter_id is not None and outcome.seq is not None
    return SubmitResult(
        status=outcome.status, meter_id=outcome.meter_id, seq=outcome.seq, reading_id=outcome.reading_id  # type: ignore[arg-type]
    )


def _split_batch(body: bytes, content_type: str, max_items: int) -> list[bytes]:
    if content_type.startswith("application/x-ndjson"):
        items = [line for line in body.split(b"\n") if line.strip()]
    else:
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ValidationFailed("malformed_batch", f"body is not JSON: {exc}") from exc
        if not isinstance(decoded, list):
            raise ValidationFailed("malformed_batch", "body must be a JSON array of envelopes")
        items = [json.dumps(item, separators=(",", ":")).encode() for item in decoded]
    if not items:
        raise ValidationFailed("empty_batch", "no envelopes in the body")
    if len(items) > max_items:
        raise ValidationFailed("batch_too_large", f"{len(items)} envelopes > {max_items}")
    return items


@router.post("/api/meters/submit-readings", response_model=BatchResult, openapi_extra=_MANY)
async def submit_readings(request: Request, service: Ingest) -> BatchResult:
    max_body = service.policy.max_batch_readings * (service.policy.max_envelope_bytes + 1)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise PayloadTooLarge("batch_too_large", f"body of {declared} bytes > {max_body}")
    items = _split_batch(
        await request.body(), request.headers.get("content-type", "application/json"),
        service.policy.max_batch_readings,
    )
    outcomes = await service.ingest([Submission(raw, "http") for raw in items])
    rejections = [
        ItemRejection(index=i, meter_id=o.meter_id, seq=o.seq, reason=o.reason or "", detail=o.detail)
        for i, o in enumerate(outcomes)
        if o.status == "rejected"
    ]
    return BatchResult(
        accepted=sum(o.status == "accepted" for o in outcomes),
        gaps=sum(o.status == "gap" for o in outcomes),
        rejected=len(rejections),
        rejections=rejections,
    )
