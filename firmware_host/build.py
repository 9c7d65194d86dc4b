"""Compile the firmware with mpy-cross: the build gate and the deploy payload.

    .venv/bin/python -m firmware_host.build [OUT_DIR]

Every device module is compiled to .mpy (mpy-cross rejects CPython-only
syntax, so a module that would not import on the device fails here);
boot.py and main.py are copied as source because the ESP32 port only runs
those two by name. Precompiled modules also save the device the heap that
compiling them would take, which matters inside a 48 KB budget.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"
#: The device's files, one path a line (relative to the firmware directory).
MANIFEST = "MANIFEST.txt"
SOURCE_ONLY = {"boot.py", "main.py"}


class BuildError(RuntimeError):
    """mpy-cross rejected a module (the message carries its output)."""


def device_sources(src_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """Every .py that belongs on the device (``MANIFEST.txt``), relative to ``src_dir``."""
    manifest = src_dir / MANIFEST
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BuildError(f"{manifest} is missing: it lists the files that go on the device") from None
    out = sorted(Path(line.strip()) for line in lines if line.strip() and not line.startswith("#"))
    missing = [str(rel) for rel in out if not (src_dir / rel).is_file()]
    if missing:
        raise BuildError(f"{manifest} names files that do not exist: {', '.join(missing)}")
    return out


def mpy_cross_bin() -> str:
    """The pinned mpy-cross next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).with_name("mpy-cross")
    if local.exists():
        return str(local)
    found = shutil.which("mpy-cross")
    if found is None:
        raise BuildError("mpy-cross not found; run scripts/setup.sh")
    return found


def build(out_dir: Path, src_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """Compile/copy the device files into ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    compiler = mpy_cross_bin()
    for rel in device_sources(src_dir):
        src = src_dir / rel
        if len(rel.parts) == 1 and rel.name in SOURCE_ONLY:
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        else:
            dst = (out_dir / rel).with_suffix(".mpy")
            dst.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [compiler, "-s", str(rel), "-o", str(dst), str(src)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise BuildError(f"mpy-cross {rel}: {proc.stderr.strip() or proc.stdout.strip()}")
        written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_host.build",
        description="Compile the meter firmware with mpy-cross (the build gate).",
    )
    parser.add_argument("out_dir", nargs="?", default="var/firmware-build",
                        help="output directory (default: var/firmware-build)")
    args = parser.parse_args(argv)
    try:
        files = build(Path(args.out_dir))
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(f"built {len(files)} files into {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
