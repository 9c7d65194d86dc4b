"""HTTP limits every route gets, in one ASGI middleware: body size and unauthenticated writes.

* **Body size.** A request body larger than ``max_body_bytes`` is refused with 413
  ``body_too_large``, whether it declares a ``Content-Length`` (refused before a byte is
  read) or streams ``Transfer-Encoding: chunked`` (refused as soon as the running count
  passes the bound, so memory stays bounded by the limit, not the attacker). The default
  fits the largest legitimate body, a full reading batch
  (``GTX_INGEST_MAX_BATCH_READINGS`` x (``GTX_INGEST_MAX_ENVELOPE_BYTES`` + 1)).
* **Unauthenticated writes** (``POST /api/auth/challenge``, ``/api/users``,
  ``/api/meters``): a token bucket per client address, ``write_rate_per_s`` sustained and
  ``write_burst`` at once; beyond it 429 ``rate_limited`` with ``Retry-After``. These
  routes cost a database write before any signature is checked, so they are what an
  anonymous client could flood. The address is the TCP peer: behind a reverse proxy,
  have the proxy rate-limit (or run uvicorn with ``--proxy-headers``).

Settings: ``GTX_HTTP_MAX_BODY_BYTES``, ``GTX_HTTP_WRITE_RATE_PER_S``,
``GTX_HTTP_WRITE_BURST`` (0 turns the rate limit off).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.config import Settings
from aggregator.errors import error_body

__all__ = ["HttpLimits", "HttpLimitsSettings"]

#: Routes an anonymous client can call that write to the database.
UNAUTHENTICATED_WRITES = frozenset({("POST", "/api/auth/challenge"), ("POST", "/api/users"),
                                    ("POST", "/api/meters")})
#: Client addresses remembered by the rate limiter (oldest forgotten first), so a flood
#: from many addresses cannot grow the table without bound.
MAX_TRACKED_CLIENTS = 10_000


class HttpLimitsSettings(BaseSettings):
    """Limits of :class:`HttpLimits` (environment ``GTX_HTTP_*``)."""

    model_config = SettingsConfigDict(env_prefix="GTX_HTTP_", extra="forbid")

    max_body_bytes: int | None = Field(None, gt=0, description="largest request body; default: a full reading batch")
    write_rate_per_s: float = Field(20.0, ge=0, description="unauthenticated writes per second per client (0: off)")
    write_burst: int = Field(60, ge=1, description="unauthenticated writes a client may make at once")


class _BodyTooLarge(Exception):
    pass


class _Buckets:
    """Token buckets per client address, least recently used forgotten first."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """0 if ``client`` may go ahead (a token is spent), else seconds until it may."""
        now = time.monotonic()
        tokens, last = self._state.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate_per_s
        self._state[client] = (tokens, now)
        while len(self._state) > MAX_TRACKED_CLIENTS:
            self._state.popitem(last=False)
        return wait


class HttpLimits:
    """ASGI middleware: ``app.add_middleware(HttpLimits, settings=settings)``."""

    def __init__(self, app: ASGIApp, settings: Settings, limits: HttpLimitsSettings | None = None) -> None:
        self.app = app
        limits = limits or HttpLimitsSettings()
        batch = settings.ingest.max_batch_readings * (settings.ingest.max_envelope_bytes + 1)
        self.max_body_bytes = limits.max_body_bytes or max(batch + 65_536, 1 << 20)
        self.buckets = _Buckets(limits.write_rate_per_s, limits.write_burst) if limits.write_rate_per_s > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.buckets is not None and (scope["method"], scope["path"].rstrip("/")) in UNAUTHENTICATED_WRITES:
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "")
            if wait > 0:
                await _refuse(send, 429, "rate_limited",
                              "too many unauthenticated writes from this address; retry later",
                              retry_after_s=math.ceil(wait))
                return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _refuse(send, 413, "body_too_large",
                          f"request body of {declared} bytes; at most {self.max_body_bytes}")
            return

        limit, seen, started, too_large = self.max_body_bytes, 0, False, False

        async def counted_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # A route may turn the failed read into a response of its own (FastAPI answers
            # 400 "error parsing the body"): the refusal replaces whatever it says.
            nonlocal started
            if too_large:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(send, 413, "body_too_large", f"request body over {limit} bytes")
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await _refuse(send, 413, "body_too_large", f"request body over {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, status: int, reason: str, message: str, retry_after_s: int | None = None) -> None:
    body = json.dumps(error_body(reason, message)).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode()),
                                          (b"connection", b"close")]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(retry_after_s).encode()))
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
