"""Instruction builders and readers for the energy_token program and GRID token accounts.

GRID has 3 decimals: 1 GRID = 1 kWh, and one base unit is one watt-hour.
"""

from __future__ import annotations

import struct

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import create_associated_token_account, get_associated_token_address

from aggregator.chain.programs import SYSTEM_PROGRAM, GtxProgram

#: 10**DECIMALS == common.wire.WH_PER_KWH: one base unit is one watt-hour.
DECIMALS = 3


class EnergyToken:
    def __init__(self, program: GtxProgram | None = None) -> None:
        self.program = program or GtxProgram("energy_token")

    @property
    def program_id(self) -> Pubkey:
        return self.program.program_id

    def config_address(self) -> Pubkey:
        return self.program.pda(b"config")

    def mint_address(self) -> Pubkey:
        return self.program.pda(b"grid_mint")

    def mint_authority(self) -> Pubkey:
        return self.program.pda(b"mint_authority")

    def token_account(self, owner: Pubkey) -> Pubkey:
        """The owner's GRID associated token account."""
        return get_associated_token_address(owner, self.mint_address())

    def create_token_account(self, payer: Pubkey, owner: Pubkey) -> Instruction:
        return create_associated_token_account(payer, owner, self.mint_address())

    def initialize(self, authority: Pubkey) -> Instruction:
        return self.program.ix("initialize", accounts={
            "authority": authority, "config": self.config_address(), "mint": self.mint_address(),
            "mint_authority": self.mint_authority(), "token_program": TOKEN_PROGRAM_ID,
            "system_program": SYSTEM_PROGRAM, "program_data": self.program.program_data})

    def burn(self, owner: Pubkey, amount_wh: int) -> Instruction:
        return self.program.ix("burn", amount_wh, accounts={
            "owner": owner, "source": self.token_account(owner), "config": self.config_address(),
            "mint": self.mint_address(), "token_program": TOKEN_PROGRAM_ID})

    def decode(self, data: bytes):
        return self.program.decode_account(data)


def token_amount(data: bytes) -> int:
    """Balance (base units) of an SPL token account's raw data."""
    return struct.unpack_from("<Q", data, 64)[0]


def mint_supply(data: bytes) -> int:
    """Supply (base units) of an SPL mint's raw data."""
    return struct.unpack_from("<Q", data, 36)[0]
