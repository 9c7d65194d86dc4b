"""Run code on the real MicroPython unix-port interpreter with a capped heap.

The firmware's tests never stop at CPython: they build the firmware with
mpy-cross (as deployed) and run it on ``.venv/bin/micropython -X
heapsize=...``, which emulates the ESP32's RAM limit. The interpreter prints
uncaught tracebacks to stdout and exits with status 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from firmware_host.unixport import FIRMWARE_HEAP, MICROPYTHON, MpResult

__all__ = ["FIRMWARE_HEAP", "MICROPYTHON", "MpProcess", "MpResult", "run_cases", "run_mp", "start_mp"]


def _argv(script: str, path: list[Path], heap: str) -> list[str]:
    prelude = "import sys\n" + "".join(f"sys.path.insert(0, {str(p)!r})\n" for p in reversed(path))
    return [str(MICROPYTHON), "-X", f"heapsize={heap}", "-c", prelude + script]


def run_mp(
    script: str,
    *,
    path: list[Path] = (),
    heap: str = FIRMWARE_HEAP,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 120,
) -> MpResult:
    """Run ``script`` to completion; ``path`` entries go first on sys.path."""
    proc = subprocess.run(
        _argv(script, list(path), heap),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return MpResult(proc.returncode, proc.stdout, proc.stderr)


class MpProcess:
    """A MicroPython process running in the background (killable mid-write)."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)

    def wait(self, timeout_s: float) -> MpResult:
        try:
            out, err = self.popen.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.popen.communicate()
            raise AssertionError(f"micropython did not finish in {timeout_s} s\n{out}\n{err}") from None
        return MpResult(self.popen.returncode, out, err)

    def __enter__(self) -> MpProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self.popen.communicate()


def start_mp(
    script: str,
    *,
    path: list[Path] = (),
    heap: str = FIRMWARE_HEAP,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> MpProcess:
    """Start ``script`` without waiting; stdout/stderr are captured as text."""
    popen = subprocess.Popen(
        _argv(script, list(path), heap),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return MpProcess(popen)


def run_cases(module: str, cases: list[dict[str, object]], *, build_dir: Path, script_dir: Path,
              tmp_dir: Path, heap: str = FIRMWARE_HEAP, timeout_s: float = 120) -> list[object]:
    """Run MicroPython ``module`` (from ``script_dir``) over ``cases``; one result each.

    The module runs from ``build_dir`` (the mpy-cross build) with the cases in
    a JSON-lines file, and prints ``R <json>`` per case (tests/firmware/mp).
    """
    cases_path = tmp_dir / f"{module}.cases.jsonl"
    cases_path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    result = run_mp(
        f"import {module}\n",
        path=[Path(""), script_dir],
        heap=heap,
        cwd=build_dir,
        env={"GTX_CASES": str(cases_path)},
        timeout_s=timeout_s,
    ).check()
    out = result.json_lines("R ")
    if len(out) != len(cases):
        raise AssertionError(f"{module}: {len(out)} results for {len(cases)} cases\n{result.stdout}")
    return out
