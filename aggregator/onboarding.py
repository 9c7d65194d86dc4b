"""One-step onboarding: the on-chain registration a REST registration hands back.

``POST /api/users`` and ``POST /api/meters`` store the row as ``pending`` and return the
registry's ``register_user`` / ``register_meter`` transaction, unsigned, base64 (the
wire form of a Solana transaction with empty signature slots), with the owner's wallet as
fee payer and only signer (the registry needs no service co-signature for either). The
wallet signs it and posts it to ``POST /api/transactions``, the relay, which passes these
two registry instructions; when the indexer sees the ``UserRegistered`` /
``MeterRegistered`` event, the row becomes ``active`` and the meter's mint batches that
failed for want of a registration get fresh attempts.
"""

from __future__ import annotations

import base64

from solders.hash import Hash
from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from aggregator.chain.registry import USER_TYPES, Registry

#: Registry instructions the relay passes: each is signed by the owner's own wallet.
REGISTRY_USER_INSTRUCTIONS = ("register_user", "register_meter")


def unsigned(instructions: list[Instruction], payer: Pubkey, blockhash: Hash) -> str:
    tx = Transaction.new_unsigned(Message.new_with_blockhash(instructions, payer, blockhash))
    return base64.b64encode(bytes(tx)).decode()


def register_user_tx(registry: Registry, wallet: str, role: str, blockhash: Hash) -> str:
    owner = Pubkey.from_string(wallet)
    return unsigned([registry.register_user(owner, USER_TYPES[role])], owner, blockhash)


def register_meter_tx(registry: Registry, owner_wallet: str, meter_id: str, device_key: bytes, location: str,
                      blockhash: Hash) -> str:
    owner = Pubkey.from_string(owner_wallet)
    return unsigned([registry.register_meter(owner, meter_id, device_key, location)], owner, blockhash)
