"""Domain errors and their single HTTP mapping.

Hierarchy (every error carries a machine-readable ``reason`` code)::

    AggregatorError                 base; never raised directly
    ├── ValidationFailed (422)      request well-formed JSON but semantically invalid
    ├── AuthError (401)             wallet/owner signature or challenge not acceptable
    ├── NotFound (404)              user, meter or batch does not exist
    ├── Conflict (409)              uniqueness or state-machine violation
    ├── PayloadTooLarge (413)       request body over the configured limit
    └── ReadingRejected (4xx)       a reading failed a validation rule (see
                                    ``aggregator.readings.reasons.Reason``); status
                                    depends on the rule (409 duplicate, 429 rate, ...)

Repositories and services raise these; :func:`install_error_handlers` converts them to
JSON ``{"error": {"reason": ..., "message": ...}}`` once, at the HTTP boundary.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class AggregatorError(Exception):
    """Base of all domain errors; ``status`` is the HTTP status used at the boundary."""

    status: int = 400

    def __init__(self, reason: str, message: str = "", **detail: Any) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message or reason
        self.detail = detail


class ValidationFailed(AggregatorError):
    status = 422


class AuthError(AggregatorError):
    status = 401


class NotFound(AggregatorError):
    status = 404


class Conflict(AggregatorError):
    status = 409


class PayloadTooLarge(AggregatorError):
    status = 413


class ReadingRejected(AggregatorError):
    """A single reading was refused; ``status`` is chosen per reason code."""

    def __init__(self, reason: str, message: str = "", status: int = 422, **detail: Any) -> None:
        super().__init__(reason, message, **detail)
        self.status = status


def error_body(reason: str, message: str, **detail: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason, "message": message}
    if detail:
        body["detail"] = detail
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors and request-shape errors to JSON 4xx bodies."""

    async def _domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AggregatorError)
        return JSONResponse(
            status_code=exc.status, content=error_body(exc.reason, exc.message, **exc.detail)
        )

    async def _request_shape(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(
            status_code=422,
            content=error_body("malformed_request", "request body is invalid", errors=errors),
        )

    app.add_exception_handler(AggregatorError, _domain)
    app.add_exception_handler(RequestValidationError, _request_shape)
