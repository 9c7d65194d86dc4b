"""Instruction builders and account readers for the certificates program (renewable
energy certificates, ERC).

Builders return plain `Instruction`s (backend-neutral: LiteSVM or a cluster); readers
decode account data with the IDL. A meter's certificates are PDAs
`["certificate", meter, sequence (u64 LE)]`; the tracker `["issuance", meter]` holds the
next sequence, so issuing needs the tracker's current state (`next_sequence`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from aggregator.chain.programs import SYSTEM_PROGRAM, GtxProgram, meter_id_bytes


class Status(enum.IntEnum):
    """Certificate states (seed 002's ERC state machine); the last three are terminal."""

    PENDING = 0
    VALID = 1
    RETIRED = 2
    REVOKED = 3
    EXPIRED = 4


TERMINAL = frozenset({Status.RETIRED, Status.REVOKED, Status.EXPIRED})


class Source(enum.IntEnum):
    """Energy source named on a certificate."""

    SOLAR = 0
    WIND = 1
    HYDRO = 2
    BIOMASS = 3
    GEOTHERMAL = 4


@dataclass(frozen=True)
class IssueRequest:
    """A meter's production interval to certify: [start_at, end_at) in unix seconds."""

    meter_id: str
    start_at: int
    end_at: int
    energy_wh: int
    source: Source = Source.SOLAR


class Certificates:
    def __init__(self, program: GtxProgram | None = None, registry_program_id: Pubkey | None = None) -> None:
        self.program = program or GtxProgram("certificates")
        self._registry_id = registry_program_id or GtxProgram("registry").program_id

    @property
    def program_id(self) -> Pubkey:
        return self.program.program_id

    # --- addresses ---------------------------------------------------------------
    def config_address(self) -> Pubkey:
        return self.program.pda(b"config")

    def meter_address(self, meter_id: str) -> Pubkey:
        """The registry's meter PDA `["meter", meter_id]`."""
        return Pubkey.find_program_address([b"meter", meter_id_bytes(meter_id)], self._registry_id)[0]

    def tracker_address(self, meter: Pubkey) -> Pubkey:
        return self.program.pda(b"issuance", bytes(meter))

    def certificate_address(self, meter: Pubkey, sequence: int) -> Pubkey:
        return self.program.pda(b"certificate", bytes(meter), sequence.to_bytes(8, "little"))

    # --- instructions --------------------------------------------------------------
    def initialize(self, authority: Pubkey, issuer: Pubkey, validity_secs: int) -> Instruction:
        return self.program.ix("initialize", issuer, validity_secs, accounts={
            "authority": authority, "config": self.config_address(), "system_program": SYSTEM_PROGRAM,
            "program_data": self.program.program_data})

    def update_config(self, authority: Pubkey, issuer: Pubkey, validity_secs: int) -> Instruction:
        return self.program.ix("update_config", issuer, validity_secs, accounts={
            "authority": authority, "config": self.config_address()})

    def issue(self, owner: Pubkey, request: IssueRequest, sequence: int) -> Instruction:
        """Issue certificate number `sequence` of the meter (its tracker's `next_sequence`,
        0 for the first; see `next_sequence`)."""
        meter = self.meter_address(request.meter_id)
        return self.program.ix(
            "issue", request.start_at, request.end_at, request.energy_wh, int(request.source),
            accounts={"owner": owner, "config": self.config_address(), "meter": meter,
                      "tracker": self.tracker_address(meter),
                      "certificate": self.certificate_address(meter, sequence),
                      "system_program": SYSTEM_PROGRAM})

    def validate(self, issuer: Pubkey, certificate: Pubkey) -> Instruction:
        return self.program.ix("validate", accounts={
            "issuer": issuer, "config": self.config_address(), "certificate": certificate})

    def transfer(self, owner: Pubkey, certificate: Pubkey, new_owner: Pubkey) -> Instruction:
        return self.program.ix("transfer", new_owner, accounts={"owner": owner, "certificate": certificate})

    def retire(self, owner: Pubkey, certificate: Pubkey) -> Instruction:
        return self.program.ix("retire", accounts={"owner": owner, "certificate": certificate})

    def revoke(self, signer: Pubkey, certificate: Pubkey, reason: int) -> Instruction:
        return self.program.ix("revoke", reason, accounts={
            "signer": signer, "config": self.config_address(), "certificate": certificate})

    def expire(self, certificate: Pubkey) -> Instruction:
        return self.program.ix("expire", accounts={"certificate": certificate})

    # --- accounts --------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        return self.program.decode_account(data)

    def next_sequence(self, tracker_data: bytes | None) -> int:
        """The sequence the meter's next certificate gets, from its tracker's raw data
        (`None` or empty when the meter has no certificate yet: the address may hold
        lamports someone sent it before the tracker exists)."""
        return self.decode(tracker_data).next_sequence if tracker_data else 0
