"""The SBPF v0 instruction set, as an allowlist.

Anything outside it (jmp32, atomics, sign-extending loads and moves, signed division,
byte swaps and other eBPF v3/v4 additions) would be rejected by the runtime's verifier
at deploy time or behave differently; the relinker refuses it at build time instead.
"""

from __future__ import annotations

_ALU_OPS = (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xB0, 0xC0)
_JMP_OPS = (0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0)

VALID: frozenset[int] = frozenset(
    [0x18]  # lddw (two slots)
    + [0x61, 0x69, 0x71, 0x79]  # ldx{w,h,b,dw}
    + [0x62, 0x6A, 0x72, 0x7A]  # st{w,h,b,dw} imm
    + [0x63, 0x6B, 0x73, 0x7B]  # stx{w,h,b,dw}
    + [op | 0x04 for op in _ALU_OPS] + [op | 0x0C for op in _ALU_OPS]  # alu32 imm/reg
    + [op | 0x07 for op in _ALU_OPS] + [op | 0x0F for op in _ALU_OPS]  # alu64 imm/reg
    + [0x84, 0x87, 0xD4, 0xDC]  # neg32, neg64, le, be
    + [0x05]  # ja
    + [op | 0x05 for op in _JMP_OPS] + [op | 0x0D for op in _JMP_OPS]  # conditional jumps
    + [0x85, 0x8D, 0x95]  # call imm, callx, exit
)

_ALU_CLASSES = (0x04, 0x07)


def describe(opcode: int) -> str:
    cls = opcode & 0x07
    if cls == 0x06:
        return f"jmp32 instruction (opcode {opcode:#04x}); build with -mcpu=v2, SBPF v0 has no jmp32"
    if opcode in (0xC3, 0xDB):
        return f"atomic memory operation (opcode {opcode:#04x}); SBPF is single-threaded, use plain loads/stores"
    if opcode in (0x81, 0x89, 0x91, 0x99):
        return f"sign-extending load (opcode {opcode:#04x}) is eBPF v4-only"
    if opcode == 0xD7:
        return "byte-swap (opcode 0xd7) is eBPF v4-only"
    return f"unsupported opcode {opcode:#04x} for SBPF v0"


def check_instruction(text: bytes | bytearray, offset: int) -> str | None:
    """Return why the instruction at `offset` is not valid SBPF v0, or None if it is."""
    opcode = text[offset]
    if opcode not in VALID:
        return describe(opcode)
    if opcode == 0x18:
        if offset + 16 > len(text) or text[offset + 8] != 0:
            return "truncated lddw (second slot missing or not zero opcode)"
        return None
    off = int.from_bytes(text[offset + 2:offset + 4], "little", signed=True)
    if opcode & 0x07 in _ALU_CLASSES and off != 0:
        # eBPF v4 encodes sdiv/smod/movsx with a non-zero offset field.
        return f"eBPF v4 signed ALU form (opcode {opcode:#04x}, off {off}) is not SBPF v0"
    return None
