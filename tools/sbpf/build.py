"""Build the on-chain programs into SBPF v0 shared objects: `python -m tools.sbpf.build`.

Runs Debian's cargo/rustc (`/usr/bin/cargo`, `RUSTC=/usr/bin/rustc`; the rustup toolchain
earlier on PATH has no BPF `core`) for the `bpfel-unknown-none` target, whose linker is
tools/sbpf/sbpf-link, then copies each program to target/deploy/<name>.so.
With Solana's toolchain installed, `cargo build-sbf` in programs/ builds the same sources.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "programs"
DEPLOY = ROOT / "target" / "deploy"
TARGET = "bpfel-unknown-none"
CARGO = os.environ.get("GTX_CARGO", "/usr/bin/cargo")
RUSTC = os.environ.get("GTX_RUSTC", "/usr/bin/rustc")


def program_names() -> list[str]:
    """Workspace members that are programs (they have an interface.toml)."""
    members = tomllib.loads((PROGRAMS / "Cargo.toml").read_text())["workspace"]["members"]
    return [m for m in members if (PROGRAMS / m / "interface.toml").exists()]


def so_path(name: str) -> Path:
    return DEPLOY / f"{name}.so"


def pipeline_stamp() -> str:
    """Digest of the link pipeline itself; cargo does not relink when only it changes."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*")):
        if f.suffix in (".py", ".txt") or f.name == "sbpf-link":
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def _relink_if_pipeline_changed(names: list[str], env: dict) -> None:
    stamp_file = PROGRAMS / "target" / "sbpf-pipeline.stamp"
    stamp = pipeline_stamp()
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    for n in names:
        subprocess.run([CARGO, "clean", "--quiet", "--release", "--target", TARGET, "-p", n],
                       cwd=PROGRAMS, env=env, check=True)
    stamp_file.parent.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(stamp)


def build(names: list[str], *, quiet: bool = False) -> dict[str, Path]:
    for tool in (CARGO, RUSTC):
        if not Path(tool).exists():
            raise SystemExit(f"error: {tool} not found; run scripts/setup.sh (installs rustc-web, cargo-web)")
    env = dict(os.environ, RUSTC=RUSTC)
    env.pop("RUSTFLAGS", None)
    _relink_if_pipeline_changed(names, env)
    started = time.monotonic()
    # One cargo run per program: a program used as a library by another (registry CPIs
    # into energy_token) is built there with `no-entrypoint`, and cargo unifies features
    # across the packages of one run.
    for n in names:
        cmd = [CARGO, "build", "--release", "--locked", "--target", TARGET, "-p", n]
        if quiet:
            cmd.append("--quiet")
        proc = subprocess.run(cmd, cwd=PROGRAMS, env=env)
        if proc.returncode != 0:
            raise SystemExit(proc.returncode)
    DEPLOY.mkdir(parents=True, exist_ok=True)
    out = {}
    for n in names:
        built = PROGRAMS / "target" / TARGET / "release" / f"lib{n}.so"
        shutil.copyfile(built, so_path(n))
        out[n] = so_path(n)
        if not quiet:
            digest = hashlib.sha256(so_path(n).read_bytes()).hexdigest()[:16]
            size, where = so_path(n).stat().st_size, so_path(n).relative_to(ROOT)
            print(f"  {n:<14} {size:>7} bytes  sha256 {digest}  -> {where}", flush=True)
    if not quiet:
        print(f"  built {len(names)} program(s) in {time.monotonic() - started:.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.sbpf.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("programs", nargs="*", help="program names (default: every program)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    build(args.programs or program_names(), quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
