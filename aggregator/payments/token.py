"""The THB token on chain: an SPL Token mint whose authority is the rail's key.

Decimals: 2. One base unit is one satang, the smallest unit the Thai banking system
books (a bank statement's ``Amt`` has at most two fraction digits for THB, ISO 4217's
minor unit for THB is 2). With the token's unit equal to the bank's unit, every bank
entry mints an exact integer and every burn pays out an exact bank amount: no rounding
between the reserve account and the supply, so "supply equals reserve" is an equality
of integers, not a tolerance. A u64 of satang holds 1.8e17 baht, far beyond any reserve.

This module builds instructions and reads accounts; it signs nothing but with the key
it is given, and imports nothing of the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    BurnCheckedParams,
    InitializeMintParams,
    MintToCheckedParams,
    burn_checked,
    create_idempotent_associated_token_account,
    decode_burn_checked,
    get_associated_token_address,
    initialize_mint,
    mint_to_checked,
)

from aggregator.chain.energy_token import mint_supply, token_amount

THB_DECIMALS = 2  # satang
MINT_BYTES = 82
BURN_CHECKED = 15  # SPL Token instruction index


@dataclass(frozen=True)
class ThbToken:
    mint: Pubkey
    authority: Keypair | None  # None: this process only reads and checks burns

    def token_account(self, wallet: Pubkey) -> Pubkey:
        return get_associated_token_address(wallet, self.mint)

    def create_mint_instructions(self, payer: Pubkey, mint: Keypair, rent: int) -> list[Instruction]:
        assert self.authority is not None
        return [
            create_account(CreateAccountParams(from_pubkey=payer, to_pubkey=mint.pubkey(), lamports=rent,
                                               space=MINT_BYTES, owner=TOKEN_PROGRAM_ID)),
            initialize_mint(InitializeMintParams(decimals=THB_DECIMALS, program_id=TOKEN_PROGRAM_ID,
                                                 mint=mint.pubkey(), mint_authority=self.authority.pubkey())),
        ]

    def mint_instructions(self, wallet: Pubkey, satang: int) -> list[Instruction]:
        """Create the wallet's THB account if it has none (paid by the authority), then mint."""
        assert self.authority is not None
        payer = self.authority.pubkey()
        return [
            create_idempotent_associated_token_account(payer, wallet, self.mint),
            mint_to_checked(MintToCheckedParams(program_id=TOKEN_PROGRAM_ID, mint=self.mint,
                                                dest=self.token_account(wallet), mint_authority=payer,
                                                amount=satang, decimals=THB_DECIMALS)),
        ]

    def burn_instruction(self, wallet: Pubkey, satang: int) -> Instruction:
        return burn_checked(BurnCheckedParams(program_id=TOKEN_PROGRAM_ID, account=self.token_account(wallet),
                                              mint=self.mint, owner=wallet, amount=satang, decimals=THB_DECIMALS))

    def burn_of(self, tx: Transaction) -> tuple[Pubkey, int] | None:
        """(owner, satang) when `tx` is exactly one burn_checked of THB from the owner's own
        account, its fee paid by this mint's authority (the rail pays withdrawal fees, so a
        wallet holding only THB can withdraw); None for anything else."""
        msg = tx.message
        if self.authority is None or len(msg.instructions) != 1:
            return None
        keys = msg.account_keys
        ci = msg.instructions[0]
        if keys[ci.program_id_index] != TOKEN_PROGRAM_ID or not ci.data or ci.data[0] != BURN_CHECKED:
            return None
        ix = Instruction(TOKEN_PROGRAM_ID, bytes(ci.data), [_meta(keys[i]) for i in ci.accounts])
        try:
            params = decode_burn_checked(ix)
        except Exception:  # noqa: BLE001 - spl's decoders raise construct errors of several kinds
            return None
        if params.mint != self.mint or params.decimals != THB_DECIMALS or params.signers:
            return None
        if keys[0] != self.authority.pubkey() or params.owner == keys[0] or msg.header.num_required_signatures != 2:
            return None
        if params.account != self.token_account(params.owner) or keys[1] != params.owner:
            return None
        return params.owner, params.amount


def _meta(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, False, False)


def supply_of(mint_data: bytes) -> int:
    return mint_supply(mint_data)


def balance_of(account_data: bytes | None) -> int:
    return 0 if account_data is None else token_amount(account_data)
