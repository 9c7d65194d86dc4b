"""Backend-neutral transaction results: what a sent transaction did, its error named from
the failing program's IDL, and the instructions of a compiled message.

Both backends (:mod:`aggregator.chain.litesvm`, :mod:`aggregator.chain.backend`) return
:class:`TxResult`; callers never see which one ran the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from solders.instruction import AccountMeta, Instruction
from solders.message import Message
from solders.pubkey import Pubkey

from aggregator.chain.programs import GtxProgram


@dataclass
class TxResult:
    signature: str
    ok: bool
    logs: list[str]
    compute_units: int
    instruction_index: int | None = None
    custom_code: int | None = None
    error: str | None = None
    error_name: str | None = None
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        if self.ok:
            return f"ok ({self.compute_units} CU)"
        name = f" {self.error_name}" if self.error_name else ""
        return f"instruction {self.instruction_index} failed:{name} {self.error}"


def decompile(message: Message) -> list[Instruction]:
    """The instructions of a compiled legacy message, with their accounts' roles."""
    keys = message.account_keys
    header = message.header
    signed = header.num_required_signatures
    writable_signed = signed - header.num_readonly_signed_accounts
    writable_unsigned = len(keys) - header.num_readonly_unsigned_accounts

    def meta(index: int) -> AccountMeta:
        writable = index < writable_signed if index < signed else index < writable_unsigned
        return AccountMeta(keys[index], index < signed, writable)

    return [Instruction(keys[ix.program_id_index], bytes(ix.data), [meta(i) for i in bytes(ix.accounts)])
            for ix in message.instructions]


def _failing_program(logs: list[str], programs: dict[Pubkey, GtxProgram]) -> GtxProgram | None:
    """The program that raised the error: the innermost one, whose failure is logged first
    (an error raised in a CPI surfaces as the outer instruction's error)."""
    for line in logs:
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "Program" and parts[2] == "failed:":
            try:
                return programs.get(Pubkey.from_string(parts[1]))
            except ValueError:
                return None
    return None


def decode_error(
    result: TxResult, err, instructions: Sequence[Instruction], programs: dict[Pubkey, GtxProgram]
) -> None:
    """Fill `result`'s error fields from a TransactionError, naming custom codes from the IDL
    of the program that raised them (through CPIs too)."""
    index = getattr(err, "index", None)
    inner = getattr(err, "err", None)
    result.error = str(inner if inner is not None else err)
    if index is None:
        return
    result.instruction_index = index
    code = getattr(inner, "code", None)
    if code is None:
        return
    result.custom_code = code
    program = _failing_program(result.logs, programs)
    if program is None and index < len(instructions):
        program = programs.get(instructions[index].program_id)
    known = program.errors.get(code) if program else None
    if known:
        result.error_name = known.name
        result.error = known.msg
