"""Instruction builders and account readers for the registry program.

Builders return plain `Instruction`s (backend-neutral: LiteSVM or a cluster); readers
decode account data with the IDL.
"""

from __future__ import annotations

from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID

from aggregator.chain.energy_token import EnergyToken
from aggregator.chain.programs import SYSTEM_PROGRAM, GtxProgram, idl_constant, idl_enum, label_bytes, meter_id_bytes

USER_TYPES = idl_enum("registry", "UserType")
PROSUMER, CONSUMER = USER_TYPES["prosumer"], USER_TYPES["consumer"]
# From the IDL (generated from interface.toml).
MAX_SETTLE_METERS = idl_constant("registry", "MAX_SETTLE_METERS")


class Registry:
    def __init__(self, program: GtxProgram | None = None, token: EnergyToken | None = None) -> None:
        self.program = program or GtxProgram("registry")
        self.token = token or EnergyToken()

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

    def minter_address(self) -> Pubkey:
        return self.program.pda(b"minter")

    # --- instructions --------------------------------------------------------------
    def initialize(self, authority: Pubkey, oracle_authority: Pubkey) -> Instruction:
        return self.program.ix("initialize", oracle_authority, accounts={
            "authority": authority, "config": self.config_address(), "system_program": SYSTEM_PROGRAM,
            "program_data": self.program.program_data})

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

    def rotate_meter_key(self, owner: Pubkey, meter_id: str, new_device_key: bytes) -> Instruction:
        return self.program.ix("rotate_meter_key", Pubkey.from_bytes(new_device_key), accounts={
            "owner": owner, "meter": self.meter_address(meter_id)})

    def deactivate_meter(self, signer: Pubkey, meter_id: str) -> Instruction:
        return self.program.ix("deactivate_meter", accounts={
            "signer": signer, "config": self.config_address(), "meter": self.meter_address(meter_id)})

    def submit_readings(self, oracle: Pubkey, meter_id: str, production_wh: int, consumption_wh: int,
                        reading_at: int) -> Instruction:
        return self.program.ix("submit_readings", production_wh, consumption_wh, reading_at, accounts={
            "oracle": oracle, "config": self.config_address(), "meter": self.meter_address(meter_id)})

    def _mint_accounts(self) -> dict[str, Pubkey]:
        return {"registry_minter": self.minter_address(), "token_config": self.token.config_address(),
                "mint": self.token.mint_address(), "mint_authority": self.token.mint_authority(),
                "token_program": TOKEN_PROGRAM_ID, "energy_token_program": self.token.program_id}

    def settle_and_mint(self, meters: list[tuple[str, Pubkey]], to_user_account: bool = False) -> Instruction:
        """Settle `meters`, each given as (meter id, owner wallet). GRID goes to the owner's
        associated token account, or with `to_user_account` is credited to the owner's
        `User.unclaimed_wh` (no token transfer; `claim_production` mints it later)."""
        if not 1 <= len(meters) <= MAX_SETTLE_METERS:
            raise ValueError(f"settle_and_mint takes 1-{MAX_SETTLE_METERS} meters, got {len(meters)}")
        remaining = []
        for meter_id, owner in meters:
            destination = self.user_address(owner) if to_user_account else self.token.token_account(owner)
            remaining.append(AccountMeta(self.meter_address(meter_id), False, True))
            remaining.append(AccountMeta(destination, False, True))
        return self.program.ix("settle_and_mint", accounts=self._mint_accounts(), remaining=remaining)

    def claim_production(self, wallet: Pubkey) -> Instruction:
        """Mint `wallet`'s unclaimed settled production to its GRID token account (anyone may send it)."""
        return self.program.ix("claim_production", accounts={
            "user": self.user_address(wallet), "destination": self.token.token_account(wallet),
            **self._mint_accounts()})

    # --- accounts --------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        return self.program.decode_account(data)
