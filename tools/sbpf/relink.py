"""Relink an eBPF relocatable object (from `llc -march=bpfel`) into an SBPF v0 shared object.

The Solana loader accepts a narrow ELF dialect (see tools/sbpf/README.md): one `.text`,
one read-only `.rodata`, no writable data, every address equal to its file offset, and
dynamic relocations only for syscalls, which the loader resolves by hashing their names.
This module resolves everything else statically and refuses, with a message naming the
culprit, anything that would fail at deploy or run time: writable data, unknown syscall
names, unsupported opcodes and unresolved symbols.

Output is a pure function of the input bytes (no timestamps, stable ordering), so
rebuilding the same sources yields the same program bytes.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from tools.sbpf.opcodes import check_instruction

MM_PROGRAM_START = 0x1_0000_0000
EM_BPF = 247
INSN = 8

# eBPF relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def).
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10

# Calls the backend emits as libcalls, served by the runtime's memory syscalls
# (Solana's own toolchain maps them the same way; argument orders match).
LIBCALL_SYSCALLS = {"memcpy": "sol_memcpy_", "memmove": "sol_memmove_", "memset": "sol_memset_"}

SYSCALLS_FILE = Path(__file__).with_name("syscalls.txt")


class RelinkError(Exception):
    """The object cannot become a loadable SBPF v0 program; the message says why."""


def load_syscall_allowlist(path: Path = SYSCALLS_FILE) -> frozenset[str]:
    names = (line.strip() for line in path.read_text().splitlines())
    return frozenset(n for n in names if n and not n.startswith("#"))


@dataclass
class _Placed:
    """Where an input section landed: output section ('.text' or '.rodata') and offset."""

    out: str
    offset: int


@dataclass
class _Layout:
    text: bytearray = field(default_factory=bytearray)
    rodata: bytearray = field(default_factory=bytearray)
    placed: dict[int, _Placed] = field(default_factory=dict)


def _align(buf: bytearray, alignment: int) -> None:
    pad = (-len(buf)) % max(alignment, 1)
    buf.extend(b"\0" * pad)


def _is_writable_data(sec) -> bool:
    flags = sec["sh_flags"]
    if not flags & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
        return False
    if sec["sh_type"] == "SHT_NOBITS":
        return True
    return bool(flags & SH_FLAGS.SHF_WRITE) and not sec.name.startswith(".data.rel.ro")


def _symbols(elf: ELFFile):
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        raise RelinkError("object has no .symtab")
    return list(symtab.iter_symbols())


def _function_at(elf: ELFFile, syms, shndx: int, offset: int) -> str:
    """Name of the function containing `offset` of section `shndx` (for messages)."""
    best = None
    for s in syms:
        if s["st_shndx"] == shndx and s["st_info"]["type"] == "STT_FUNC":
            if s["st_value"] <= offset and (best is None or s["st_value"] > best["st_value"]):
                best = s
    return best.name if best is not None else f"{elf.get_section(shndx).name}+{offset:#x}"


def _layout(elf: ELFFile, syms) -> _Layout:
    lay = _Layout()
    for idx, sec in enumerate(elf.iter_sections()):
        if _is_writable_data(sec):
            names = sorted(s.name for s in syms if s["st_shndx"] == idx and s.name)
            what = ", ".join(names) if names else "unnamed data"
            raise RelinkError(
                f"writable data is not supported by SBPF programs: section {sec.name} "
                f"({sec['sh_size']} bytes: {what}). Remove `static mut`, interior-mutable "
                f"statics and globals written at run time; keep state in accounts."
            )
        flags = sec["sh_flags"]
        if not flags & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
            continue
        if flags & SH_FLAGS.SHF_EXECINSTR:
            buf, out = lay.text, ".text"
            _align(buf, INSN)
        elif sec.name.startswith((".rodata", ".data.rel.ro")):
            buf, out = lay.rodata, ".rodata"
            _align(buf, sec["sh_addralign"])
        elif sec.name.startswith(".eh_frame"):
            continue
        else:
            raise RelinkError(f"unsupported allocated section {sec.name}")
        lay.placed[idx] = _Placed(out, len(buf))
        buf.extend(sec.data())
    if not lay.text:
        raise RelinkError("object has no executable code")
    _align(lay.text, INSN)
    return lay


@dataclass
class _Image:
    text: bytearray
    rodata: bytearray
    text_addr: int
    rodata_addr: int
    syscall_sites: list[tuple[int, str]]  # (offset in .text, syscall name)
    entry_offset: int


def _resolve(elf: ELFFile, syms, lay: _Layout, text_addr: int, rodata_addr: int,
             allowed: frozenset[str], entry: str) -> _Image:
    bases = {".text": text_addr, ".rodata": rodata_addr}
    bufs = {".text": lay.text, ".rodata": lay.rodata}
    sites: list[tuple[int, str]] = []
    unresolved: dict[str, str] = {}

    def sym_addr(sym) -> int | None:
        shndx = sym["st_shndx"]
        if shndx == "SHN_UNDEF":
            return None
        if shndx == "SHN_ABS":
            return sym["st_value"]
        placed = lay.placed.get(shndx)
        if placed is None:
            raise RelinkError(f"symbol {sym.name or '?'} lives in a section that is not loaded")
        return bases[placed.out] + placed.offset + sym["st_value"]

    for rsec in elf.iter_sections():
        if not isinstance(rsec, RelocationSection):
            continue
        target_idx = rsec["sh_info"]
        placed = lay.placed.get(target_idx)
        if placed is None:
            continue  # relocations of debug info, BTF and other dropped sections
        buf = bufs[placed.out]
        for rel in rsec.iter_relocations():
            rtype, sym = rel["r_info_type"], syms[rel["r_info_sym"]]
            at = placed.offset + rel["r_offset"]
            where = lambda t=target_idx, off=rel["r_offset"]: _function_at(elf, syms, t, off)  # noqa: E731
            base = sym_addr(sym)
            if rtype == R_BPF_64_32:
                if placed.out != ".text":
                    raise RelinkError(f"call relocation outside code at {where()}")
                imm = struct.unpack_from("<i", buf, at + 4)[0]
                if base is None:
                    name = LIBCALL_SYSCALLS.get(sym.name, sym.name)
                    if name not in allowed:
                        unresolved.setdefault(sym.name, where())
                        continue
                    struct.pack_into("<i", buf, at + 4, -1)
                    sites.append((at, name))
                    continue
                target = base + (imm + 1) * INSN
                pc = text_addr + at
                struct.pack_into("<i", buf, at + 4, (target - pc - INSN) // INSN)
            elif rtype == R_BPF_64_64:
                if base is None:
                    unresolved.setdefault(sym.name, where())
                    continue
                lo, hi = struct.unpack_from("<I", buf, at + 4)[0], struct.unpack_from("<I", buf, at + 12)[0]
                addr = MM_PROGRAM_START + base + (lo | hi << 32)
                struct.pack_into("<I", buf, at + 4, addr & 0xFFFF_FFFF)
                struct.pack_into("<I", buf, at + 12, addr >> 32)
            elif rtype == R_BPF_64_ABS64:
                if base is None:
                    unresolved.setdefault(sym.name, where())
                    continue
                addend = struct.unpack_from("<Q", buf, at)[0]
                struct.pack_into("<Q", buf, at, MM_PROGRAM_START + base + addend)
            else:
                raise RelinkError(f"unsupported relocation type {rtype} in {where()}")

    if unresolved:
        lines = [f"  {name} (referenced from {fn})" for name, fn in sorted(unresolved.items())]
        raise RelinkError(
            "unresolved symbols (not defined in the program and not an SBPF syscall; "
            "check the spelling against tools/sbpf/syscalls.txt):\n" + "\n".join(lines)
        )

    entry_syms = [s for s in syms if s.name == entry and s["st_shndx"] != "SHN_UNDEF"]
    if not entry_syms:
        raise RelinkError(f"no `{entry}` symbol: declare the program entrypoint")
    entry_addr = sym_addr(entry_syms[0])
    return _Image(lay.text, lay.rodata, text_addr, rodata_addr, sites, entry_addr - text_addr)


def _check_code(image: _Image, describe) -> None:
    """Validate every instruction; fix `callx` register encoding for SBPF v0."""
    text = image.text
    i = 0
    while i < len(text):
        opcode = text[i]
        problem = check_instruction(text, i)
        if problem:
            raise RelinkError(f"{problem} at .text+{i:#x} in {describe(i)}")
        if opcode == 0x8D:  # callx: SBPF v0 takes the target register from imm
            dst = text[i + 1] & 0x0F
            struct.pack_into("<i", text, i + 4, dst)
        i += 16 if opcode == 0x18 else INSN


# --- output ---------------------------------------------------------------------------

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_DYN = struct.Struct("<qQ")
_REL = struct.Struct("<QQ")

PT_LOAD, PT_DYNAMIC = 1, 2
PF_X, PF_W, PF_R = 1, 2, 4
SHT_PROGBITS, SHT_STRTAB, SHT_DYNAMIC, SHT_REL, SHT_DYNSYM = 1, 3, 6, 9, 11
SHF_WRITE, SHF_ALLOC, SHF_EXEC = 1, 2, 4
DT_NULL, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_REL, DT_RELSZ, DT_RELENT = 0, 5, 6, 10, 11, 17, 18, 19
STB_GLOBAL, STT_NOTYPE, STT_FUNC = 1, 0, 2


class _StrTab:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data.extend(s.encode() + b"\0")
        return self.index[s]


def relink(obj: bytes, *, entry: str = "entrypoint",
           allowed_syscalls: frozenset[str] | None = None) -> bytes:
    """Return SBPF v0 shared-object bytes for the eBPF relocatable object `obj`."""
    allowed = allowed_syscalls if allowed_syscalls is not None else load_syscall_allowlist()
    elf = ELFFile(io.BytesIO(obj))
    if elf["e_machine"] not in ("EM_BPF", EM_BPF) or elf["e_type"] != "ET_REL":
        raise RelinkError("input is not an eBPF relocatable object")
    syms = _symbols(elf)
    lay = _layout(elf, syms)

    has_rodata = bool(lay.rodata)
    n_phdr = 4 if has_rodata else 3
    text_addr = _align_up(_EHDR.size + n_phdr * _PHDR.size, INSN)
    rodata_addr = _align_up(text_addr + len(lay.text), INSN)
    image = _resolve(elf, syms, lay, text_addr, rodata_addr, allowed, entry)
    text_base = next(i for i, p in lay.placed.items() if p.out == ".text" and p.offset == 0)

    def describe(text_off: int) -> str:
        for idx, p in lay.placed.items():
            if p.out == ".text":
                size = elf.get_section(idx)["sh_size"]
                if p.offset <= text_off < p.offset + size:
                    return _function_at(elf, syms, idx, text_off - p.offset)
        return _function_at(elf, syms, text_base, text_off)

    _check_code(image, describe)
    return _write(image, entry)


def _align_up(n: int, a: int) -> int:
    return n + (-n) % a


def _write(image: _Image, entry: str) -> bytes:
    dynstr = _StrTab()
    syscall_names = sorted({name for _, name in image.syscall_sites})
    dynsym = bytearray(_SYM.size)  # index 0: the null symbol
    sym_index: dict[str, int] = {}
    entry_name = dynstr.add(entry)
    dynsym += _SYM.pack(entry_name, STB_GLOBAL << 4 | STT_FUNC, 0, 1,
                        image.text_addr + image.entry_offset, 0)
    for name in syscall_names:
        sym_index[name] = len(dynsym) // _SYM.size
        dynsym += _SYM.pack(dynstr.add(name), STB_GLOBAL << 4 | STT_NOTYPE, 0, 0, 0, 0)
    rels = bytearray()
    for at, name in sorted(image.syscall_sites):
        rels += _REL.pack(image.text_addr + at, sym_index[name] << 32 | R_BPF_64_32)

    out = bytearray()
    has_rodata = bool(image.rodata)
    out += b"\0" * image.text_addr
    out += image.text
    if has_rodata:
        out += b"\0" * (image.rodata_addr - len(out))
        out += image.rodata
    _pad(out, 8)
    dynamic_off = len(out)
    n_dyn = 8 if rels else 5
    out += b"\0" * (n_dyn * _DYN.size)
    dynsym_off = len(out)
    out += dynsym
    dynstr_off = len(out)
    out += dynstr.data
    _pad(out, 8)
    rel_off = len(out)
    out += rels
    dyn_end = len(out)

    dyn = [(DT_SYMTAB, dynsym_off), (DT_STRTAB, dynstr_off), (DT_STRSZ, len(dynstr.data)),
           (DT_SYMENT, _SYM.size)]
    if rels:
        dyn += [(DT_REL, rel_off), (DT_RELSZ, len(rels)), (DT_RELENT, _REL.size)]
    dyn.append((DT_NULL, 0))
    for i, (tag, val) in enumerate(dyn):
        _DYN.pack_into(out, dynamic_off + i * _DYN.size, tag, val)

    shstr = _StrTab()
    # (name, type, flags, offset, size, link, info, align, entsize)
    sections = [(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXEC, image.text_addr, len(image.text), 0, 0, 8, 0)]
    if has_rodata:
        sections.append((".rodata", SHT_PROGBITS, SHF_ALLOC, image.rodata_addr, len(image.rodata), 0, 0, 8, 0))
    dynsym_idx = len(sections) + 2
    dynstr_idx = dynsym_idx + 1
    sections += [
        (".dynamic", SHT_DYNAMIC, SHF_ALLOC | SHF_WRITE, dynamic_off, n_dyn * _DYN.size, dynstr_idx, 0, 8, _DYN.size),
        (".dynsym", SHT_DYNSYM, SHF_ALLOC, dynsym_off, len(dynsym), dynstr_idx, 1, 8, _SYM.size),
        (".dynstr", SHT_STRTAB, SHF_ALLOC, dynstr_off, len(dynstr.data), 0, 0, 1, 0),
    ]
    if rels:
        sections.append((".rel.dyn", SHT_REL, SHF_ALLOC, rel_off, len(rels), dynsym_idx, 0, 8, _REL.size))
    for s in sections:
        shstr.add(s[0])
    shstrtab_idx = len(sections) + 1
    shstr.add(".shstrtab")
    shstr_off = len(out)
    out += shstr.data
    _pad(out, 8)
    shdr_off = len(out)
    out += _SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    for name, typ, flags, off, size, link, info, align, entsize in sections:
        out += _SHDR.pack(shstr.index[name], typ, flags, off, off, size, link, info, align, entsize)
    out += _SHDR.pack(shstr.index[".shstrtab"], SHT_STRTAB, 0, 0, shstr_off, len(shstr.data), 0, 0, 1, 0)

    phdrs = [(PT_LOAD, PF_R | PF_X, image.text_addr, len(image.text))]
    if has_rodata:
        phdrs.append((PT_LOAD, PF_R, image.rodata_addr, len(image.rodata)))
    phdrs.append((PT_LOAD, PF_R, dynamic_off, dyn_end - dynamic_off))
    phdrs.append((PT_DYNAMIC, PF_R | PF_W, dynamic_off, n_dyn * _DYN.size))
    ph = bytearray()
    for typ, flags, off, size in phdrs:
        ph += _PHDR.pack(typ, flags, off, off, off, size, size, 8)
    out[_EHDR.size:_EHDR.size + len(ph)] = ph

    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header = _EHDR.pack(ident, 3, EM_BPF, 1, image.text_addr + image.entry_offset,
                        _EHDR.size, shdr_off, 0, _EHDR.size, _PHDR.size, len(phdrs),
                        _SHDR.size, len(sections) + 2, shstrtab_idx)
    out[:_EHDR.size] = header
    return bytes(out)


def _pad(buf: bytearray, a: int) -> None:
    buf.extend(b"\0" * ((-len(buf)) % a))
