"""Linker for the `bpfel-unknown-none` target: LLVM bitcode in, SBPF v0 shared object out.

rustc (Debian's rustc-web, whose BPF core/alloc rlibs hold LLVM bitcode) calls this as
its linker with bpf-linker style arguments. The pipeline:

  1. gather bitcode: the crate's objects and every bitcode member of the rlibs;
  2. `llvm-link` them into one module;
  3. IR fix-ups (tools/sbpf/irfix.py);
  4. `opt`: internalize all but `entrypoint`, drop dead code, run the LTO pipeline;
  5. `llc -march=bpfel -mcpu=v2`: one eBPF relocatable object;
  6. relink (tools/sbpf/relink.py): the SBPF v0 shared object the loader accepts.

The LLVM tools are the ones matching rustc's own LLVM (read from `rustc -vV`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.sbpf.irfix import fix_ir
from tools.sbpf.relink import RelinkError, relink

BITCODE_MAGIC = (b"BC\xc0\xde", b"\xde\xc0\x17\x0b")


class LinkError(Exception):
    """A step of the program link failed; the message names the step and the cause."""


def llvm_major(rustc: str = "/usr/bin/rustc") -> str:
    out = subprocess.run([rustc, "-vV"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^LLVM version: (\d+)", out, re.M)
    if not m:
        raise LinkError(f"cannot read the LLVM version from `{rustc} -vV`")
    return m.group(1)


def llvm_tool(name: str) -> str:
    major = os.environ.get("GTX_LLVM_MAJOR") or llvm_major(os.environ.get("RUSTC", "/usr/bin/rustc"))
    path = Path(f"/usr/lib/llvm-{major}/bin/{name}")
    if not path.exists():
        raise LinkError(f"{path} not found: install llvm-{major} (scripts/setup.sh does)")
    return str(path)


# Backend limits worth a hint: LLVM's own messages do not say what to change.
HINTS = {
    "too many arguments": "an SBPF function takes at most 5 arguments: pass a struct by reference",
    "stack arguments are not supported": "an SBPF function takes at most 5 arguments: pass a struct by reference",
    "__multi3": "128-bit multiply (e.g. u64::checked_mul) is not available: "
                "use u64 math with explicit overflow checks",
    "Looks like the BPF stack limit": "a stack frame exceeds 4 KiB: "
                                      "move large locals into accounts or split the function",
}


def _run(cmd: list[str], step: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        hints = sorted({h for k, h in HINTS.items() if k in proc.stderr})
        extra = "".join(f"\nhint: {h}" for h in hints)
        raise LinkError(f"{step} failed ({Path(cmd[0]).name}):\n{proc.stderr.strip()}{extra}")


def _is_bitcode(data: bytes) -> bool:
    return data[:4] in BITCODE_MAGIC


def _ar_members(path: Path) -> list[tuple[str, bytes]]:
    """Members of a System V / GNU `ar` archive (rlibs are plain ar archives)."""
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise LinkError(f"{path} is not an ar archive")
    pos, names, members = 8, b"", []
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip()
        size = int(header[48:58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name == "//":
            names = body
            continue
        if name.startswith("/") and name[1:].isdigit():
            start = int(name[1:])
            name = names[start:names.index(b"/\n", start)].decode()
        members.append((name.rstrip("/"), body))
    return members


def gather_bitcode(inputs: list[Path], workdir: Path) -> list[Path]:
    """Write every bitcode input (objects and rlib members) to `workdir`, in input order."""
    files: list[Path] = []
    for i, path in enumerate(inputs):
        if path.suffix == ".rlib" or path.suffix == ".a":
            for j, (name, body) in enumerate(_ar_members(path)):
                if _is_bitcode(body):
                    out = workdir / f"{i:03d}-{j:04d}-{Path(name).name}"
                    out.write_bytes(body)
                    files.append(out)
        elif _is_bitcode(path.read_bytes()[:4]):
            files.append(path)
        # Native objects (rustc's symbols.o list of exports) carry no code.
    if not files:
        raise LinkError("no LLVM bitcode among the linker inputs")
    return files


def link(inputs: list[Path], output: Path, *, entry: str = "entrypoint",
         keep: Path | None = None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="sbpf-link-") as tmp:
        work = Path(tmp)
        bitcode = gather_bitcode(inputs, work)
        linked = work / "linked.bc"
        _run([llvm_tool("llvm-link"), "-o", str(linked), *map(str, bitcode)], "llvm-link")
        text_ir = work / "linked.ll"
        _run([llvm_tool("llvm-dis"), str(linked), "-o", str(text_ir)], "llvm-dis")
        fixed = work / "fixed.ll"
        fixed.write_text(fix_ir(text_ir.read_text()))
        optimized = work / "opt.bc"
        _run([llvm_tool("opt"), "--strip-debug",
              f"-internalize-public-api-list={entry}",
              "-passes=internalize,globaldce,lto<O3>,globaldce",
              str(fixed), "-o", str(optimized)], "opt")
        obj = work / "program.o"
        _run([llvm_tool("llc"), "-march=bpfel", "-mcpu=v2", "-O3", "-filetype=obj",
              "-bpf-stack-size=4096", "-mattr=+allows-misaligned-mem-access",
              str(optimized), "-o", str(obj)], "llc")
        if keep is not None:
            keep.write_bytes(obj.read_bytes())
        so = relink(obj.read_bytes(), entry=entry)
    output.write_bytes(so)
    return so


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sbpf-link", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", type=Path)
    p.add_argument("-o", dest="output", type=Path, required=True)
    p.add_argument("--entry", default="entrypoint")
    p.add_argument("--keep-object", type=Path, help="also write the eBPF object llc produced")
    # Arguments rustc passes to a bpf-linker flavoured linker that this pipeline fixes itself.
    p.add_argument("--export-symbols")
    p.add_argument("--cpu")
    p.add_argument("--cpu-features")
    p.add_argument("-L", action="append", default=[])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--fatal-warnings", action="store_true")
    p.add_argument("-O", dest="opt_level")
    args, unknown = p.parse_known_args(argv)
    # rustc spells the optimisation level as -O3 (one token).
    leftovers = [a for a in unknown if not re.fullmatch(r"-O[0-3sz]", a)]
    if leftovers:
        p.error(f"unexpected arguments: {' '.join(leftovers)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        link(args.inputs, args.output, entry=args.entry, keep=args.keep_object)
    except (LinkError, RelinkError) as exc:
        print(f"error: SBPF link of {args.output.name} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
