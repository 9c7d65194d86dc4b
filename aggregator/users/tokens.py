"""Read tokens: a wallet proves itself once and then reads its private data with a bearer token.

Flow: ``POST /api/auth/challenge`` with purpose ``read_token``; the wallet signs the
challenge message (:mod:`aggregator.users.challenge`); ``POST /api/auth/token`` with the
nonce and signature returns a token; later requests send ``Authorization: Bearer <token>``.
``GET /api/auth/whoami`` tells who a token speaks for.

Token format (compact, URL-safe): ``base64url(claims JSON) "." base64url(HMAC-SHA256)``
with claims ``{"v": 1, "sub": wallet, "role": role, "iat": unix s, "exp": unix s}``. The
HMAC key is ``GTX_AUTH_TOKEN_SECRET`` when set (at least 32 characters), else a random
32-byte secret generated once and kept in the database (table ``auth_token_secret``), so
every replica of the service and every restart accept the same tokens. There is no
default secret.

Roles: ``admin`` (``GTX_ADMIN_WALLETS``), ``operator`` (``GTX_OPERATOR_WALLETS``, the
grid operator), else ``owner`` (any wallet: it reads its own data). The role is checked
against the settings again on every request, so removing a wallet from a list takes its
privileges away at once, not when its tokens expire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from aggregator.config import Settings
from aggregator.deps import AppServices, AppSettings, Pool
from aggregator.errors import AuthError, Forbidden
from aggregator.services import Services
from aggregator.users import challenge

__all__ = ["MaybeReader", "Principal", "Reader", "TokenSigner", "events_refusal", "load_secret", "require_privileged",
           "require_wallet", "router"]

Role = Literal["owner", "operator", "admin"]
TOKEN_PURPOSE = "read_token"
_VERSION = 1


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for: a wallet and its role."""

    wallet: str
    role: Role
    expires_at: int

    @property
    def privileged(self) -> bool:
        """Grid operator or admin: reads every wallet's and meter's data."""
        return self.role in ("operator", "admin")

    def may_read_wallet(self, wallet: str) -> bool:
        return self.privileged or self.wallet == wallet


def role_of(settings: Settings, wallet: str) -> Role:
    if wallet in settings.admin_wallets:
        return "admin"
    if wallet in settings.operator_wallets:
        return "operator"
    return "owner"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens with one HMAC key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 bytes")
        self._secret = secret

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def issue(self, wallet: str, role: Role, ttl_s: int, now: int | None = None) -> tuple[str, int]:
        iat = int(time.time()) if now is None else now
        exp = iat + ttl_s
        claims = {"v": _VERSION, "sub": wallet, "role": role, "iat": iat, "exp": exp}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(body)}", exp

    def verify(self, token: str, settings: Settings, now: int | None = None) -> Principal:
        """The token's principal; :class:`AuthError` ``token_invalid`` / ``token_expired``."""
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise AuthError("token_invalid", "the token's signature does not verify")
        try:
            claims = json.loads(_unb64(body))
            wallet, role, exp = claims["sub"], claims["role"], claims["exp"]
            valid = claims.get("v") == _VERSION and isinstance(wallet, str) and isinstance(exp, int) \
                and role in ("owner", "operator", "admin")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthError("token_invalid", "the token's claims are malformed") from exc
        if not valid:
            raise AuthError("token_invalid", "the token's claims are malformed")
        if exp <= (int(time.time()) if now is None else now):
            raise AuthError("token_expired", "the token has expired; ask for a new one")
        if role != "owner" and role_of(settings, wallet) != role:
            role = "owner"  # the privilege was withdrawn since the token was issued
        return Principal(wallet=wallet, role=role, expires_at=exp)


async def load_secret(pool: asyncpg.Pool, settings: Settings) -> bytes:
    """The configured secret, or the one kept in the database (generated on first use)."""
    if settings.auth_token_secret is not None:
        return settings.auth_token_secret.get_secret_value().encode()
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO auth_token_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                           secrets.token_bytes(32))
        secret: bytes = await conn.fetchval("SELECT secret FROM auth_token_secret WHERE id = 1")
    return secret


# --- FastAPI dependencies --------------------------------------------------------------------

def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        # WebSocket clients in browsers cannot set headers: they pass ?token=.
        return connection.query_params.get("token") if connection.scope["type"] == "websocket" else None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("token_invalid", "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def optional_principal(connection: HTTPConnection, services: AppServices) -> Principal | None:
    """The request's principal, ``None`` without a token; a bad token is refused (401)."""
    token = _bearer(connection)
    if token is None:
        return None
    return services.token_signer.verify(token, services.settings)


def required_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise AuthError("token_required", "this data is private: send 'Authorization: Bearer <token>' "
                        "(POST /api/auth/token)")
    return principal


#: A route parameter of this type makes the route need a token.
Reader = Annotated[Principal, Depends(required_principal)]
#: A route parameter of this type reads the token when one is sent.
MaybeReader = Annotated[Principal | None, Depends(optional_principal)]


def require_wallet(reader: Principal, wallet: str) -> None:
    """Only ``wallet`` itself, the grid operator and admins read ``wallet``'s data."""
    if not reader.may_read_wallet(wallet):
        raise Forbidden("not_yours", "this data belongs to another wallet")


def events_refusal(connection: HTTPConnection, services: Services) -> str | None:
    """Why a WebSocket of every meter's events is refused (``None``: it is not)."""
    try:
        principal = optional_principal(connection, services)
    except AuthError as exc:
        return exc.reason
    if principal is None:
        return "token_required"
    return None if principal.privileged else "not_yours"


def require_privileged(reader: Principal) -> None:
    if not reader.privileged:
        raise Forbidden("not_yours", "only the grid operator and admins read every wallet's data")


# --- HTTP ------------------------------------------------------------------------------------

class TokenRequest(BaseModel):
    wallet: str = Field(min_length=32, max_length=44)
    nonce: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=100, description="base58 Ed25519 signature of the "
                           "challenge message for purpose 'read_token' (no extra fields)")


class TokenResponse(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>'")
    token_type: Literal["bearer"] = "bearer"
    wallet: str
    role: Role
    expires_at: int = Field(description="unix s")


class WhoAmI(BaseModel):
    wallet: str
    role: Role
    expires_at: int


router = APIRouter(tags=["users"])


@router.post("/api/auth/token", response_model=TokenResponse, status_code=201)
async def new_token(body: TokenRequest, pool: Pool, settings: AppSettings, services: AppServices) -> TokenResponse:
    """A read token for the wallet that signed a ``read_token`` challenge."""
    async with pool.acquire() as conn:
        await challenge.consume(conn, wallet=body.wallet, purpose=TOKEN_PURPOSE, nonce=body.nonce,
                                signature_b58=body.signature)
    role = role_of(settings, body.wallet)
    token, exp = services.token_signer.issue(body.wallet, role, settings.auth_token_ttl_s)
    return TokenResponse(token=token, wallet=body.wallet, role=role, expires_at=exp)


@router.get("/api/auth/whoami", response_model=WhoAmI)
async def whoami(reader: Reader) -> WhoAmI:
    """The wallet and role the sent token speaks for."""
    return WhoAmI(wallet=reader.wallet, role=reader.role, expires_at=reader.expires_at)
