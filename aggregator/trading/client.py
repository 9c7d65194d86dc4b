"""Build and sign trading transactions for a wallet, to send through ``POST /api/transactions``.

The wallet's key never leaves the caller: this module builds the instruction from the
IDL (:class:`aggregator.chain.trading.Trading`), signs it locally with the wallet as fee
payer, and hands back the base64 wire form. Market details, the next order id and a
blockhash come from ``GET /api/markets``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import httpx
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from aggregator.chain.trading import ASK, BID, MarketRef, Trading

SIDES = {"buy": BID, "sell": ASK}  # the API's names of the program's sides


def market_ref(market: dict[str, Any]) -> MarketRef:
    """The instruction builders' view of one ``GET /api/markets`` item."""
    return MarketRef(*(Pubkey.from_string(market[k]) for k in
                       ("address", "payment_mint", "grid_vault", "payment_vault", "fee_account", "matcher")))


def sign(wallet: Keypair, instructions: Sequence[Instruction], blockhash: str) -> str:
    """Base64 of a legacy transaction paid for and signed by `wallet`."""
    tx = Transaction.new_signed_with_payer(list(instructions), wallet.pubkey(), [wallet], Hash.from_string(blockhash))
    return base64.b64encode(bytes(tx)).decode()


def place_order_tx(wallet: Keypair, market: dict[str, Any], *, side: str, price_per_kwh_micro: int, energy_wh: int,
                   expires_at: int = 0, trading: Trading | None = None) -> tuple[str, Pubkey]:
    """(signed transaction, order address) for the market's next order id."""
    trading = trading or Trading()
    ref = market_ref(market)
    ix = trading.place_order(wallet.pubkey(), ref, market["next_order_id"], side=SIDES[side],
                             price_per_kwh=price_per_kwh_micro, size_wh=energy_wh, expires_at=expires_at)
    return sign(wallet, [ix], market["recent_blockhash"]), trading.order_address(ref.address, market["next_order_id"])


def cancel_order_tx(wallet: Keypair, market: dict[str, Any], order_address: str, side: str,
                    trading: Trading | None = None) -> str:
    trading = trading or Trading()
    ix = trading.cancel_order(wallet.pubkey(), market_ref(market), Pubkey.from_string(order_address), SIDES[side])
    return sign(wallet, [ix], market["recent_blockhash"])


async def fetch_market(http: httpx.AsyncClient, address: str) -> dict[str, Any]:
    resp = await http.get("/api/markets")
    resp.raise_for_status()
    found = [m for m in resp.json() if m["address"] == address]
    if not found:
        raise LookupError(f"the service does not serve market {address}")
    return found[0]


async def place_order(http: httpx.AsyncClient, wallet: Keypair, market_address: str, *, side: str,
                      price_per_kwh_micro: int, energy_wh: int, expires_at: int = 0) -> httpx.Response:
    """Read the market, sign a place_order with `wallet` and relay it; the service's answer."""
    market = await fetch_market(http, market_address)
    tx, _ = place_order_tx(wallet, market, side=side, price_per_kwh_micro=price_per_kwh_micro, energy_wh=energy_wh,
                           expires_at=expires_at)
    return await http.post("/api/transactions", json={"transaction": tx})


async def cancel_order(http: httpx.AsyncClient, wallet: Keypair, market_address: str, order_address: str,
                       side: str) -> httpx.Response:
    market = await fetch_market(http, market_address)
    return await http.post("/api/transactions",
                           json={"transaction": cancel_order_tx(wallet, market, order_address, side)})
