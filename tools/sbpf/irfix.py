"""IR fix-ups applied to the linked module before optimisation.

Debian's BPF `core`, `alloc` and `compiler_builtins` were compiled for the generic BPF
CPU (v1), and function attributes beat `llc -mcpu`: without this, library code would be
lowered for v1 (no `jlt`/`jle`/`jslt`/`jsle`, longer branch sequences) while our crates
get v2. Every function is retargeted to v2, the CPU SBPF v0 executes.
"""

from __future__ import annotations

import re

TARGET_CPU = "v2"
_CPU_ATTR = re.compile(r'"target-cpu"="[^"]*"')


def fix_ir(ir: str) -> str:
    return _CPU_ATTR.sub(f'"target-cpu"="{TARGET_CPU}"', ir)
