"""The service's errors: one tree, each mapped once at the boundary it crosses.

Every error class the service defines derives from :class:`AggregatorError` and carries
a machine-readable ``reason`` code::

    AggregatorError                     base; never raised directly
    ├── RequestError (HTTP status)      refuses one request; install_error_handlers maps
    │   │                               it to {"error": {"reason", "message", "detail"}}
    │   ├── ValidationFailed (422)      well-formed JSON but semantically invalid
    │   ├── AuthError (401)             wallet/owner signature or challenge not acceptable
    │   ├── Forbidden (403)             authenticated, but the role may not do this
    │   ├── NotFound (404)              user, meter, batch or certificate does not exist
    │   ├── Conflict (409)              uniqueness or state-machine violation; no chain
    │   │   └── Refused                 admin.py: an operator command refused (exit 1)
    │   ├── PayloadTooLarge (413)       request body or transaction over its limit
    │   ├── ReadingRejected (4xx)       a reading failed a validation rule (status per
    │   │                               rule, ``aggregator.readings.reasons.Reason``)
    │   └── Unavailable (5xx)           the service cannot answer now; retry
    │       ├── RelayBusy (503)             trading/service.py: too many relays waiting
    │       └── ConfirmationTimeout (504)   trading/service.py: relayed, not confirmed yet
    ├── StartupError                    the service cannot start as configured: the start
    │   │                               fails with the reason (``python -m aggregator``)
    │   ├── EmbeddedPostgresError       db/embedded.py
    │   └── MigrationError              db/migrate.py
    ├── TransientError                  a background loop logs it, pauses, retries
    │   ├── IndexerError                indexer/service.py: history not readable yet
    │   └── DecodeError                 indexer/decode.py: logs disagree with the IDLs
    └── MintError                       the minter's chain protocol (minting/protocol.py)
        ├── MintRejected                the mint executed and failed: safe to retry
        └── MeterNotOnChain             the meter has no account on chain yet

The chain client library (``aggregator/chain``) stands apart from the service and has
its own base, :class:`aggregator.chain.errors.ChainClientError` (``ChainError``,
``HistoryError``, ``ChainSetupError``). The service crosses into it at three places:
the lifespan (a ``ChainSetupError`` stops the start), the minter (``chain/service.py``
turns a failed mint into ``MintRejected``), and the loops, which survive
:data:`RETRYABLE`.

Boundaries: repositories and services raise these; HTTP maps ``RequestError`` once
(:func:`install_error_handlers`); the indexer and matcher loops catch :data:`RETRYABLE`
once; anything else is a bug and answers 500 / stops the loop.

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
import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from solana.exceptions import SolanaExceptionBase
from solana.rpc.core import RPCException
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from aggregator.chain.errors import ChainClientError


class AggregatorError(Exception):
    """Base of all the service's errors; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str = "", **detail: Any) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message or reason
        self.detail = detail


class RequestError(AggregatorError):
    """Refuses one request; ``status`` is the HTTP status used at the boundary."""

    status: int = 400


class ValidationFailed(RequestError):
    status = 422


class AuthError(RequestError):
    status = 401


class Forbidden(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


class Conflict(RequestError):
    status = 409


class PayloadTooLarge(RequestError):
    status = 413


class ReadingRejected(RequestError):
    """A single reading was refused; ``status`` is chosen per reason code."""

    def __init__(self, reason: str, message: str = "", status: int = 422, **detail: Any) -> None:
        super().__init__(reason, message, **detail)
        self.status = status


class Unavailable(RequestError):
    """The service cannot answer now (a bound is reached, the chain is slow); retry."""

    status = 503


class StartupError(AggregatorError):
    """The service cannot start as configured."""


class TransientError(AggregatorError):
    """A background loop logs it, pauses and tries again."""


class MintError(AggregatorError):
    """The chain refused, or cannot yet take, a mint."""


#: What the indexer and matcher loops survive (log, pause, retry): the service's
#: transient errors, the chain client library's errors, and the I/O families its drivers
#: raise (the database, the network and timeouts, the RPC client). Anything else is a bug
#: and stops the loop.
RETRYABLE: tuple[type[Exception], ...] = (
    TransientError, ChainClientError, asyncpg.PostgresError, OSError, httpx.HTTPError,
    SolanaExceptionBase, RPCException,
)


def error_body(reason: str, message: str, **detail: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason, "message": message}
    if detail:
        body["detail"] = detail
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    """Map request errors and request-shape errors to JSON bodies (the HTTP boundary)."""

    async def _domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestError)
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

    async def _framework(_: Request, exc: Exception) -> JSONResponse:
        # The framework's own refusals (a body that is not JSON at all, an unknown path, a
        # method a path does not take) in the same shape, with a reason code.
        assert isinstance(exc, StarletteHTTPException)
        reason = FRAMEWORK_REASONS.get(exc.status_code, "http_error")
        return JSONResponse(status_code=exc.status_code, content=error_body(reason, str(exc.detail)),
                            headers=getattr(exc, "headers", None))

    app.add_exception_handler(RequestError, _domain)
    app.add_exception_handler(StarletteHTTPException, _framework)
    app.add_exception_handler(RequestValidationError, _request_shape)
    for exc_type in (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError,
                     UnicodeEncodeError):
        app.add_exception_handler(exc_type, _unstorable)
    app.add_middleware(RefuseUnstorableUrls)


UNSTORABLE = "unstorable_text"
#: Reason codes of the framework's HTTP refusals, by status.
FRAMEWORK_REASONS = {400: "unparsable_body", 404: "not_found", 405: "method_not_allowed"}


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
