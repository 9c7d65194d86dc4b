"""HTTP shapes for reading submission (request bodies are raw envelopes, see router)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from common.wire import ENVELOPE_VERSION, METER_ID_PATTERN, WRAPPER_FIELDS

ENVELOPE_SCHEMA = {
    "type": "object",
    "description": "signed meter envelope v1 (docs/envelope.md), sent verbatim",
    "required": list(WRAPPER_FIELDS),
    "properties": {
        "v": {"type": "integer", "enum": [ENVELOPE_VERSION]},
        "meter": {"type": "string", "pattern": METER_ID_PATTERN},
        "payload": {"type": "string", "description": "base64 of the signed payload bytes"},
        "sig": {"type": "string", "description": "base64 Ed25519 signature over the payload"},
    },
    "additionalProperties": False,
}


class SubmitResult(BaseModel):
    status: Literal["accepted", "gap"]
    meter_id: str
    seq: int
    reading_id: int | None = Field(None, description="row id (accepted readings only)")


class ItemRejection(BaseModel):
    index: int
    meter_id: str | None
    seq: int | None
    reason: str
    detail: str


class BatchResult(BaseModel):
    accepted: int
    gaps: int
    rejected: int
    rejections: list[ItemRejection] = Field(description="one entry per refused item, by index")
