"""Wallet-signed calls to the aggregator's REST API, made with the user's own key.

Each call fetches a one-time challenge (``POST /api/auth/challenge``), signs the message
``aggregator.users.challenge.signing_message`` defines with the wallet's keypair, and sends
the request with the nonce and signature: the aggregator never sees a private key. The
functions return the raw responses; callers decide what a non-2xx status means.
"""

from __future__ import annotations

import httpx
from solders.keypair import Keypair

from aggregator.users.challenge import signing_message

__all__ = ["WalletError", "authorize", "read_token", "register_meter", "register_user", "set_meter_status",
           "signed_challenge"]


class WalletError(RuntimeError):
    """The aggregator refused to hand out a challenge."""


async def signed_challenge(client: httpx.AsyncClient, kp: Keypair, purpose: str,
                           fields: dict[str, str]) -> tuple[str, str]:
    """(nonce, base58 signature) over the challenge for ``purpose`` and the request ``fields``."""
    wallet = str(kp.pubkey())
    resp = await client.post("/api/auth/challenge", json={"wallet": wallet, "purpose": purpose})
    if resp.status_code != 201:
        raise WalletError(f"challenge for {purpose}: HTTP {resp.status_code} {resp.text}")
    nonce = resp.json()["nonce"]
    return nonce, str(kp.sign_message(signing_message(purpose, wallet, nonce, fields)))


async def register_user(client: httpx.AsyncClient, kp: Keypair, role: str,
                        display_name: str | None = None) -> httpx.Response:
    """``POST /api/users`` for the wallet ``kp`` (role ``prosumer`` or ``consumer``)."""
    fields = {"role": role} if display_name is None else {"role": role, "display_name": display_name}
    nonce, sig = await signed_challenge(client, kp, "register_user", fields)
    return await client.post("/api/users", json={
        "wallet": str(kp.pubkey()), "role": role, "display_name": display_name, "nonce": nonce, "signature": sig,
    })


async def register_meter(client: httpx.AsyncClient, owner: Keypair, meter_id: str,
                         device_public_key: bytes) -> httpx.Response:
    """``POST /api/meters``: the owner registers a meter with its device's Ed25519 public key."""
    fields = {"meter_id": meter_id, "device_public_key": device_public_key.hex()}
    nonce, sig = await signed_challenge(client, owner, "register_meter", fields)
    return await client.post("/api/meters", json={
        **fields, "owner_wallet": str(owner.pubkey()), "nonce": nonce, "signature": sig,
    })


async def set_meter_status(client: httpx.AsyncClient, owner: Keypair, meter_id: str, status: str) -> httpx.Response:
    """``POST /api/meters/{meter_id}/status`` (only the owner may)."""
    nonce, sig = await signed_challenge(client, owner, "set_meter_status", {"meter_id": meter_id, "status": status})
    return await client.post(f"/api/meters/{meter_id}/status", json={
        "status": status, "owner_wallet": str(owner.pubkey()), "nonce": nonce, "signature": sig,
    })


async def read_token(client: httpx.AsyncClient, kp: Keypair) -> str:
    """A read token for the wallet ``kp`` (``POST /api/auth/token``): send it as
    ``Authorization: Bearer <token>`` to read the wallet's private data."""
    nonce, sig = await signed_challenge(client, kp, "read_token", {})
    resp = await client.post("/api/auth/token", json={"wallet": str(kp.pubkey()), "nonce": nonce, "signature": sig})
    if resp.status_code != 201:
        raise WalletError(f"read token: HTTP {resp.status_code} {resp.text}")
    return str(resp.json()["token"])


async def authorize(client: httpx.AsyncClient, kp: Keypair) -> None:
    """Make every later request of ``client`` speak for the wallet ``kp`` (a read token)."""
    client.headers["Authorization"] = f"Bearer {await read_token(client, kp)}"
