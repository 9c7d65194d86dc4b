"""REST: challenges, user registration, user lookup and energy balance."""

from __future__ import annotations

from fastapi import APIRouter

from aggregator.deps import AppServices, AppSettings, Pool
from aggregator.onboarding import register_user_tx
from aggregator.users import challenge
from aggregator.users import repository as repo
from aggregator.users.schemas import (
    Balance,
    ChallengeRequest,
    ChallengeResponse,
    RegisterUser,
    User,
)
from aggregator.users.tokens import Reader, require_wallet

router = APIRouter(tags=["users"])


@router.post("/api/auth/challenge", response_model=ChallengeResponse, status_code=201)
async def new_challenge(body: ChallengeRequest, pool: Pool, settings: AppSettings) -> ChallengeResponse:
    async with pool.acquire() as conn:
        nonce, expires_at = await challenge.issue(conn, body.wallet, body.purpose, settings.challenge_ttl_s,
                                                   settings.max_stored_challenges)
    return ChallengeResponse(
        nonce=nonce,
        expires_at=expires_at,
        message_format=challenge.signing_message(body.purpose, body.wallet, nonce).decode(),
    )


@router.post("/api/users", response_model=User, status_code=201)
async def register_user(body: RegisterUser, pool: Pool, services: AppServices) -> User:
    """The user row (``pending`` when a chain is served) and, then, the ``register_user``
    transaction for the wallet to sign and relay (``aggregator.onboarding``)."""
    challenge.parse_wallet(body.wallet)
    chain = services.chain_handle
    blockhash = await chain.backend.latest_blockhash() if chain is not None else None
    async with pool.acquire() as conn:
        await challenge.consume(
            conn, wallet=body.wallet, purpose="register_user", nonce=body.nonce,
            signature_b58=body.signature, fields=body.signed_fields(),
        )
        row = await repo.create(conn, body.wallet, body.role, body.display_name,
                                "pending" if chain is not None else "active")
    tx = None if chain is None or blockhash is None else register_user_tx(chain.registry, body.wallet, body.role,
                                                                         blockhash)
    return User(**dict(row), registration_tx=tx)


@router.get("/api/users/{wallet}", response_model=User)
async def get_user(wallet: str, reader: Reader, pool: Pool) -> User:
    """The wallet's profile (the wallet itself, the grid operator and admins)."""
    require_wallet(reader, wallet)
    async with pool.acquire() as conn:
        return User(**dict(await repo.get(conn, wallet)))


@router.get("/api/users/{wallet}/balance", response_model=Balance)
async def get_balance(wallet: str, reader: Reader, pool: Pool) -> Balance:
    """Minted and pending energy (the wallet itself, the grid operator and admins)."""
    require_wallet(reader, wallet)
    async with pool.acquire() as conn:
        user = await repo.get(conn, wallet)
        row = await repo.balance(conn, user["id"])
    return Balance(wallet=wallet, **dict(row))
