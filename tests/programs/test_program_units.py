"""Rust unit tests of the programs' pure logic, on the host (Debian's rustc)."""

from __future__ import annotations

import os
import subprocess

from tools.sbpf.build import CARGO, PROGRAMS, RUSTC


def test_cargo_unit_tests_pass():
    env = dict(os.environ, RUSTC=RUSTC)
    proc = subprocess.run([CARGO, "test", "--quiet", "--locked", "--lib", "-p", "gtx-common", "--target-dir",
                           str(PROGRAMS / "target" / "host")], cwd=PROGRAMS, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test result: ok. 1 passed" in proc.stdout
