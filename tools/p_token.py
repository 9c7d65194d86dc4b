"""Write the p-token (SIMD-0266) SPL Token program ELF that LiteSVM >= 0.29 ships.

The project's environment pins solders 0.26 (anchorpy requires it), whose LiteSVM runs
classic SPL Token; solders 0.29 runs p-token at the same program id. Run this file with
a Python that has solders >= 0.29 (a throwaway venv: `pip install solders==0.29.0`), then
measure the trading program with it: `python -m bench.trading --token-program PATH`.
It imports only solders, so it runs outside the project's environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
PROGRAM_DATA_HEADER = 45  # tag u32, slot u64, Option<authority>: 1 + 32


def token_program_elf() -> bytes:
    svm = LiteSVM()
    program = svm.get_account(TOKEN_PROGRAM)
    if program.owner != UPGRADEABLE_LOADER:
        raise SystemExit(f"this LiteSVM's SPL Token is owned by {program.owner}, not the upgradeable loader")
    data = svm.get_account(Pubkey(bytes(program.data[4:36]))).data
    elf = bytes(data[PROGRAM_DATA_HEADER:])
    if elf[:4] != b"\x7fELF":
        raise SystemExit("the program data account does not hold an ELF")
    return elf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/p_token.py", description=__doc__)
    p.add_argument("output", type=Path, help="where to write the ELF")
    args = p.parse_args(argv)
    args.output.write_bytes(token_program_elf())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
