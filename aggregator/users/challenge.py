"""Wallet-signed challenges: how a user proves control of a key without sharing it.

Flow: ``POST /api/auth/challenge`` issues a one-time nonce for (wallet, purpose); the
wallet signs :func:`signing_message` (Ed25519, the Solana wallet key) and sends the
signature with the request it authorises. The server rebuilds the same message from
the request, verifies the signature and consumes the nonce (single use, expiring).

Message layout (UTF-8, ``\\n``-separated; extra fields sorted by name)::

    GridTokenX <purpose>
    wallet: <base58 wallet>
    nonce: <nonce>
    <field>: <value>
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg
from solders.pubkey import Pubkey
from solders.signature import Signature

from aggregator.errors import AuthError, Unavailable, ValidationFailed

#: Unused, unexpired challenges kept per wallet; issuing another drops the oldest. A
#: wallet signs one at a time, so this only bounds what a flood can store: with the
#: per-address rate limit (aggregator.http_limits) the table grows by at most this many
#: rows per wallet, and expired rows are deleted as new ones are issued.
MAX_OPEN_PER_WALLET = 16

PURPOSES = frozenset({"register_user", "register_meter", "set_meter_status", "request_certificate", "read_token"})


def parse_wallet(wallet: str) -> Pubkey:
    try:
        key = Pubkey.from_string(wallet)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("bad_wallet", f"not a base58 public key: {wallet!r}") from exc
    if str(key) != wallet:
        raise ValidationFailed("bad_wallet", "wallet must be canonical base58")
    return key


def signing_message(purpose: str, wallet: str, nonce: str, fields: Mapping[str, str] | None = None) -> bytes:
    lines = [f"GridTokenX {purpose}", f"wallet: {wallet}", f"nonce: {nonce}"]
    lines += [f"{k}: {v}" for k, v in sorted((fields or {}).items())]
    return "\n".join(lines).encode()


def verify_wallet_signature(wallet: str, message: bytes, signature_b58: str) -> None:
    key = parse_wallet(wallet)
    try:
        sig = Signature.from_string(signature_b58)
    except (ValueError, TypeError) as exc:
        raise AuthError("bad_wallet_signature", "signature is not base58 of 64 bytes") from exc
    if not sig.verify(key, message):
        raise AuthError("bad_wallet_signature", "signature does not verify for this wallet")


async def issue(conn: asyncpg.Connection, wallet: str, purpose: str, ttl_s: int,
                max_stored: int = 100_000) -> tuple[str, datetime]:
    """A new nonce; 503 ``challenge_store_full`` while ``max_stored`` challenges are kept
    (a flood from many addresses and made-up wallets cannot fill the disk; expired ones
    are deleted an hour after expiry, so the store drains by itself)."""
    if purpose not in PURPOSES:
        raise ValidationFailed("bad_purpose", f"purpose must be one of {sorted(PURPOSES)}")
    parse_wallet(wallet)
    await conn.execute("DELETE FROM auth_challenges WHERE expires_at < now() - interval '1 hour'")
    if await conn.fetchval("SELECT count(*) FROM auth_challenges") >= max_stored:
        raise Unavailable("challenge_store_full", "too many open challenges; retry in a few minutes",
                          retry_after_s=60)
    nonce = secrets.token_urlsafe(24)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await conn.execute(
        "INSERT INTO auth_challenges (nonce, wallet, purpose, expires_at) VALUES ($1, $2, $3, $4)",
        nonce, wallet, purpose, expires_at,
    )
    # Keep the table small: one wallet needs few at once.
    await conn.execute(
        """DELETE FROM auth_challenges WHERE nonce IN (
               SELECT nonce FROM auth_challenges WHERE wallet = $1 AND used_at IS NULL
               ORDER BY expires_at DESC, nonce OFFSET $2)""",
        wallet, MAX_OPEN_PER_WALLET,
    )
    return nonce, expires_at


async def consume(
    conn: asyncpg.Connection,
    *,
    wallet: str,
    purpose: str,
    nonce: str,
    signature_b58: str,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Verify the signature, then spend the nonce; raise :class:`AuthError` otherwise.

    Call it outside the transaction of the request's own writes (``conn`` not in a
    transaction): a nonce is spent as soon as its signature verifies, so a request that
    fails afterwards (a conflict, a missing meter) cannot be replayed with it.
    """
    verify_wallet_signature(wallet, signing_message(purpose, wallet, nonce, fields), signature_b58)
    row = await conn.fetchrow(
        """UPDATE auth_challenges SET used_at = now()
           WHERE nonce = $1 AND wallet = $2 AND purpose = $3
             AND used_at IS NULL AND expires_at > now()
           RETURNING nonce""",
        nonce, wallet, purpose,
    )
    if row is None:
        raise AuthError("challenge_invalid", "nonce unknown, expired, already used or for another purpose")
