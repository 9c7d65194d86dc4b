"""Domain errors and their single HTTP mapping.

Hierarchy (every error carries a machine-readable ``reason`` code)::

    AggregatorError                 base; never raised directly
    ├── ValidationFailed (422)      request well-formed JSON but semantically invalid
    ├── AuthError (401)             wallet/owner signature or challenge not acceptable
    ├── Forbidden (403)             authenticated, but the role may not do this
    ├── NotFound (404)              user, meter or batch does not exist
    ├── Conflict (409)              uniqueness or state-machine violation
    ├── PayloadTooLarge (413)       request body over the configured limit
    └── ReadingRejected (4xx)       a reading failed a validation rule (see
                                    ``aggregator.readings.reasons.Reason``); status
                                    depends on the rule (409 duplicate, 429 rate, ...)

Repositories and services raise these; :func:`install_error_handlers` converts them to
JSON ``{"error": {"reason": ..., "message": ...}}`` once, at the HTTP boundary.

Text PostgreSQL cannot store (a NUL character, a lone surrogate) is refused in one place
too, whatever field, path segment or query parameter it arrives in: a request whose path
or query holds it never reaches a route, and text from a body that reaches the database
is mapped from the driver's error. Both answer 422 ``unstorable_text``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


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


class Forbidden(AggregatorError):
    status = 403


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

    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=422, content=error_body(
            UNSTORABLE, "text holds a character that cannot be stored (NUL or a lone surrogate)"))

    app.add_exception_handler(AggregatorError, _domain)
    app.add_exception_handler(RequestValidationError, _request_shape)
    for exc_type in (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError,
                     UnicodeEncodeError):
        app.add_exception_handler(exc_type, _unstorable)
    app.add_middleware(RefuseUnstorableUrls)


UNSTORABLE = "unstorable_text"


def _unstorable_bytes(raw: bytes) -> bool:
    """NUL, or bytes that are not UTF-8 (a percent-encoded lone surrogate among them)."""
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class RefuseUnstorableUrls:
    """ASGI middleware: a path or query string that decodes to unstorable text gets 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            query = scope.get("query_string", b"").replace(b"+", b" ")
            if _unstorable_bytes(unquote_to_bytes(raw_path)) or _unstorable_bytes(unquote_to_bytes(query)) \
                    or "\x00" in scope["path"]:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1007})
                    return
                body = json.dumps(error_body(UNSTORABLE, "the path or query holds a NUL or invalid UTF-8")).encode()
                await send({"type": "http.response.start", "status": 422,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
