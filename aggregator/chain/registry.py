"""Instruction builders and account readers for the registry program.

Builders return plain `Instruction`s (backend-neutral: LiteSVM or a cluster); readers
decode account data with the IDL.
"""

from __future__ import annotations

from typing import Any

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from aggregator.chain.programs import SYSTEM_PROGRAM, GtxProgram, label_bytes, meter_id_bytes

PROSUMER, CONSUMER = 0, 1
USER_TYPES = {"prosumer": PROSUMER, "consumer": CONSUMER}


class Registry:
    def __init__(self, program: GtxProgram | None = None) -> None:
        self.program = program or GtxProgram("registry")

    @property
    def program_id(self) -> Pubkey:
        return self.program.program_id

    # --- addresses ---------------------------------------------------------------
    def config_address(self) -> Pubkey:
        return self.program.pda(b"config")

    def user_address(self, wallet: Pubkey) -> Pubkey:
        return self.program.pda(b"user", bytes(wallet))

    def meter_address(self, meter_id: str) -> Pubkey:
        return self.program.pda(b"meter", meter_id_bytes(meter_id))

    # --- instructions --------------------------------------------------------------
    def initialize(self, authority: Pubkey, oracle_authority: Pubkey) -> Instruction:
        return self.program.ix("initialize", oracle_authority, accounts={
            "authority": authority, "config": self.config_address(), "system_program": SYSTEM_PROGRAM})

    def register_user(self, wallet: Pubkey, user_type: int) -> Instruction:
        return self.program.ix("register_user", user_type, accounts={
            "wallet": wallet, "config": self.config_address(), "user": self.user_address(wallet),
            "system_program": SYSTEM_PROGRAM})

    def register_meter(self, owner: Pubkey, meter_id: str, device_key: bytes, location: str) -> Instruction:
        if len(device_key) != 32:
            raise ValueError("device_key must be a 32-byte Ed25519 public key")
        return self.program.ix(
            "register_meter", list(meter_id_bytes(meter_id)), Pubkey.from_bytes(device_key),
            list(label_bytes(location)),
            accounts={"owner": owner, "config": self.config_address(), "user": self.user_address(owner),
                      "meter": self.meter_address(meter_id), "system_program": SYSTEM_PROGRAM})

    # --- accounts --------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        return self.program.decode_account(data)
