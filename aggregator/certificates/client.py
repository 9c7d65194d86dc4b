"""The owner's side of certificates, with the owner's own key (it never leaves the caller).

``POST /api/certificates`` (a wallet-signed challenge, ``tools.wallet.signed_challenge``)
returns a prepared issuance; ``sign_issuance`` adds the owner's signature to it, and
``transfer_tx`` / ``retire_tx`` build and sign the holder's instructions. Every signed
transaction goes to ``POST /api/transactions``.
"""

from __future__ import annotations

import base64

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from aggregator.chain.certificates import Certificates
from aggregator.trading.client import sign


def sign_issuance(owner: Keypair, transaction: str) -> str:
    """The prepared issuance (``Issuance.transaction``) with the owner's signature added."""
    tx = Transaction.from_bytes(base64.b64decode(transaction))
    tx.partial_sign([owner], tx.message.recent_blockhash)
    return base64.b64encode(bytes(tx)).decode()


def transfer_tx(holder: Keypair, certificate: str, new_owner: Pubkey, blockhash: str,
                certificates: Certificates | None = None) -> str:
    ix = (certificates or Certificates()).transfer(holder.pubkey(), Pubkey.from_string(certificate), new_owner)
    return sign(holder, [ix], blockhash)


def retire_tx(holder: Keypair, certificate: str, blockhash: str, certificates: Certificates | None = None) -> str:
    ix = (certificates or Certificates()).retire(holder.pubkey(), Pubkey.from_string(certificate))
    return sign(holder, [ix], blockhash)
