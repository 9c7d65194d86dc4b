"""The whole pipeline through cargo: rustc -> tools/sbpf/sbpf-link -> SBPF v0 program."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from tools.sbpf.build import CARGO, RUSTC, TARGET
from tools.sbpf.link import llvm_major, llvm_tool

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixture_program"


def cargo_build(target_dir: Path, *features: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RUSTC=RUSTC, CARGO_TARGET_DIR=str(target_dir),
               CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER=str(REPO / "tools" / "sbpf" / "sbpf-link"))
    cmd = [CARGO, "build", "--quiet", "--release", "--target", TARGET, "--manifest-path", str(FIXTURE / "Cargo.toml")]
    if features:
        cmd += ["--features", ",".join(features)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def built_so(target_dir: Path) -> bytes:
    return (target_dir / TARGET / "release" / "libfixture_program.so").read_bytes()


def test_a_clean_build_is_reproducible_and_runs(tmp_path):
    first, second = cargo_build(tmp_path / "a"), cargo_build(tmp_path / "b")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    so = built_so(tmp_path / "a")
    assert so == built_so(tmp_path / "b")
    svm, pid, payer = LiteSVM(), Pubkey.new_unique(), Keypair()
    svm.add_program(pid, so)
    svm.airdrop(payer.pubkey(), 10**9)
    tx = Transaction.new_signed_with_payer([Instruction(pid, b"", [])], payer.pubkey(), [payer], svm.latest_blockhash())
    assert "Program log: fixture says hi" in svm.send_transaction(tx).logs()


@pytest.mark.parametrize(("feature", "expected"), [
    ("static_mut", ["writable data is not supported", ".bss", "CALLS"]),
    ("misspelled_syscall", ["unresolved symbols", "sol_lgo_", "syscalls.txt"]),
])
def test_a_broken_program_fails_the_build_naming_the_problem(tmp_path, feature, expected):
    proc = cargo_build(tmp_path, feature)
    assert proc.returncode != 0
    for words in expected:
        assert words in proc.stderr, proc.stderr


def test_llvm_tools_follow_rustcs_llvm():
    out = subprocess.run([RUSTC, "-vV"], capture_output=True, text=True, check=True).stdout
    major = llvm_major(RUSTC)
    assert f"LLVM version: {major}." in out
    assert f"/llvm-{major}/" in llvm_tool("llc")
