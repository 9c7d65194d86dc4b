"""Rust unit tests of the trading program's pure arithmetic (fees, values, market
parameters), on the host with Debian's rustc, against 128-bit references."""

from __future__ import annotations

import os
import subprocess

from tools.sbpf.build import CARGO, PROGRAMS, RUSTC


def test_trading_unit_tests_pass():
    env = dict(os.environ, RUSTC=RUSTC)
    proc = subprocess.run([CARGO, "test", "--quiet", "--locked", "--lib", "-p", "trading", "--target-dir",
                           str(PROGRAMS / "target" / "host")], cwd=PROGRAMS, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test result: ok. 3 passed" in proc.stdout
