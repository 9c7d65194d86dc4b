"""The relinker: golden checks of its SBPF v0 output and every refusal, on assembled objects."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from tools.sbpf.link import llvm_tool
from tools.sbpf.relink import MM_PROGRAM_START, RelinkError, relink

ASM = Path(__file__).parent / "asm"
REPO = Path(__file__).resolve().parents[2]

HEADER = "\t.text\n\t.globl entrypoint\n\t.type entrypoint,@function\nentrypoint:\n"


def assemble(source: str, tmp_path: Path, cpu: str = "v2") -> bytes:
    src, obj = tmp_path / "prog.s", tmp_path / "prog.o"
    src.write_text(source)
    subprocess.run([llvm_tool("llvm-mc"), "-triple", "bpfel", f"-mcpu={cpu}", "-filetype=obj", str(src), "-o", str(obj)],
                   check=True, capture_output=True)
    return obj.read_bytes()


@pytest.fixture
def hello_so(tmp_path: Path) -> bytes:
    return relink(assemble((ASM / "hello.s").read_text(), tmp_path))


def run(so: bytes) -> list[str]:
    svm = LiteSVM()
    pid = Pubkey.new_unique()
    svm.add_program(pid, so)
    payer = Keypair()
    svm.airdrop(payer.pubkey(), 10**9)
    tx = Transaction.new_signed_with_payer([Instruction(pid, b"", [])], payer.pubkey(), [payer], svm.latest_blockhash())
    return list(svm.send_transaction(tx).logs())


# --- golden output -----------------------------------------------------------------------

def test_output_runs_in_the_svm(hello_so):
    logs = run(hello_so)
    assert "Program log: hello, grid" in logs
    assert logs[-1].endswith("success")


def test_header_is_sbpf_v0_shared_object(hello_so):
    elf = ELFFile(io.BytesIO(hello_so))
    assert (elf["e_ident"]["EI_CLASS"], elf["e_ident"]["EI_DATA"], elf["e_ident"]["EI_OSABI"]) == (
        "ELFCLASS64", "ELFDATA2LSB", "ELFOSABI_SYSV")
    assert elf["e_type"] == "ET_DYN"
    assert elf.header["e_machine"] in ("EM_BPF", 247)
    assert elf["e_flags"] == 0
    text = elf.get_section_by_name(".text")
    assert text["sh_addr"] <= elf["e_entry"] < text["sh_addr"] + text["sh_size"]
    assert (elf["e_entry"] - text["sh_addr"]) % 8 == 0


def test_sections_are_the_loader_dialect(hello_so):
    elf = ELFFile(io.BytesIO(hello_so))
    sections = [s for s in elf.iter_sections() if s.name]
    assert [s.name for s in sections] == [".text", ".rodata", ".dynamic", ".dynsym", ".dynstr", ".rel.dyn", ".shstrtab"]
    end = 0
    for s in sections:
        assert len(s.name) <= 15
        assert s["sh_size"] > 0
        assert s["sh_offset"] >= end, "sections must ascend without overlap"
        end = s["sh_offset"] + s["sh_size"]
        if s["sh_flags"] & 2:  # SHF_ALLOC
            assert s["sh_addr"] == s["sh_offset"]
        assert not (s.name.startswith((".data", ".bss")) and s["sh_flags"] & 1)
    assert elf.get_section_by_name(".text")["sh_offset"] % 8 == 0


def test_dynamic_section_points_at_its_tables(hello_so):
    elf = ELFFile(io.BytesIO(hello_so))
    dyn = {t.entry.d_tag: t.entry.d_val for t in elf.get_section_by_name(".dynamic").iter_tags()}
    assert dyn["DT_SYMTAB"] == elf.get_section_by_name(".dynsym")["sh_addr"]
    assert dyn["DT_STRTAB"] == elf.get_section_by_name(".dynstr")["sh_addr"]
    assert dyn["DT_REL"] == elf.get_section_by_name(".rel.dyn")["sh_addr"]
    assert (dyn["DT_RELENT"], dyn["DT_SYMENT"]) == (16, 24)
    assert any(seg["p_type"] == "PT_DYNAMIC" for seg in elf.iter_segments())


def test_only_syscalls_stay_dynamic_and_the_rest_is_resolved(hello_so):
    elf = ELFFile(io.BytesIO(hello_so))
    dynsym = elf.get_section_by_name(".dynsym")
    rels = list(elf.get_section_by_name(".rel.dyn").iter_relocations())
    assert [(r["r_info_type"], dynsym.get_symbol(r["r_info_sym"]).name) for r in rels] == [(10, "sol_log_")]
    text = elf.get_section_by_name(".text")
    code, base = text.data(), text["sh_addr"]
    site = rels[0]["r_offset"] - base
    assert struct.unpack_from("<i", code, site + 4)[0] == -1  # the loader writes the hash
    # lddw of .rodata resolved to its runtime address
    rodata = elf.get_section_by_name(".rodata")
    lddws = [i for i in range(0, len(code), 8) if code[i] == 0x18]
    addrs = {struct.unpack_from("<I", code, i + 4)[0] | struct.unpack_from("<I", code, i + 12)[0] << 32 for i in lddws}
    assert MM_PROGRAM_START + rodata["sh_addr"] in addrs
    # callx carries its register in imm for SBPF v0
    (callx,) = [i for i in range(0, len(code), 8) if code[i] == 0x8D]
    assert struct.unpack_from("<i", code, callx + 4)[0] == code[callx + 1] & 0x0F


def test_relinking_is_reproducible(tmp_path):
    obj = assemble((ASM / "hello.s").read_text(), tmp_path)
    assert relink(obj) == relink(obj)


# --- refusals ----------------------------------------------------------------------------

def refusal(source: str, tmp_path: Path, cpu: str = "v2") -> str:
    with pytest.raises(RelinkError) as info:
        relink(assemble(source, tmp_path, cpu))
    return str(info.value)


def test_writable_data_is_refused_naming_the_symbol(tmp_path):
    msg = refusal(HEADER + "\tr0 = 0\n\texit\n\t.data\n\t.globl counter\ncounter:\n\t.quad 7\n", tmp_path)
    assert "writable data" in msg and ".data" in msg and "counter" in msg


def test_bss_is_refused(tmp_path):
    msg = refusal(HEADER + "\tr0 = 0\n\texit\n\t.bss\n\t.globl zeroed\nzeroed:\n\t.zero 16\n", tmp_path)
    assert "writable data" in msg and ".bss" in msg and "zeroed" in msg


def test_misspelled_syscall_is_refused_by_name(tmp_path):
    msg = refusal(HEADER + "\tcall sol_lgo_\n\tr0 = 0\n\texit\n", tmp_path)
    assert "unresolved symbols" in msg and "sol_lgo_" in msg and "entrypoint" in msg


def test_unresolved_data_symbol_is_refused(tmp_path):
    msg = refusal(HEADER + "\tr1 = missing_table ll\n\tr0 = 0\n\texit\n", tmp_path)
    assert "unresolved symbols" in msg and "missing_table" in msg


@pytest.mark.parametrize(("cpu", "insn", "words"), [
    ("v3", "if w1 > 3 goto +0", "jmp32"),
    ("v3", "lock *(u64 *)(r1 + 0) += r2", "atomic"),
    ("v4", "r1 = (s8)r2", "v4 signed"),
    ("v4", "r1 = bswap64 r1", "byte-swap"),
    ("v4", "r1 = *(s8 *)(r2 + 0)", "sign-extending load"),
])
def test_unsupported_opcodes_are_refused(tmp_path, cpu, insn, words):
    msg = refusal(HEADER + f"\t{insn}\n\tr0 = 0\n\texit\n", tmp_path, cpu)
    assert words in msg and "entrypoint" in msg


def test_missing_entrypoint_is_refused(tmp_path):
    msg = refusal("\t.text\n\t.globl main\nmain:\n\tr0 = 0\n\texit\n", tmp_path)
    assert "entrypoint" in msg


def test_memory_libcalls_become_runtime_syscalls(tmp_path):
    so = relink(assemble(HEADER + "\tcall memcpy\n\tcall memset\n\tr0 = 0\n\texit\n", tmp_path))
    elf = ELFFile(io.BytesIO(so))
    dynsym = elf.get_section_by_name(".dynsym")
    rels = elf.get_section_by_name(".rel.dyn").iter_relocations()
    assert sorted(dynsym.get_symbol(r["r_info_sym"]).name for r in rels) == ["sol_memcpy_", "sol_memset_"]
