"""Hardware in the loop: a short community day from the command line, with chaos kills.

Six meters on Modbus RTU emulators (one read by the firmware on the MicroPython
interpreter, one polled by gateway B, the rest by the device model), two edge gateways
relaying through their outboxes, both markets, certificates; each gateway and the
aggregator's broker killed with SIGKILL once and restarted. The demo's conservation
checks decide its exit status, and the test reads them back from its output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "mint rule: GRID minted = signed export, per meter",
    "GRID on chain (wallets + market vaults) = minted",
    "GRID conserved across trades",
    "money conserved across trades",
    "the fee account holds the fees",
    "money on chain (wallets + vaults + fee account) = deposits",
    "certified energy <= eligible",
)


def test_a_short_community_day_with_a_gateway_killed_keeps_every_check(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "demo", "--meters", "6", "--firmware", "1", "--direct", "1", "--wall-s", "30",
         "--chaos", "--seed", "3", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    assert "stand-in payment token; THB rail pending" in out
    assert len(re.findall(r"chaos: kill -9 gateway gw-[ab]", out)) == 2
    assert "chaos: kill -9 the aggregator's broker" in out
    for check in CHECKS:
        assert re.search(rf"^ok\s+{re.escape(check)}", out, re.M), f"{check!r} not ok:\n{out[-3000:]}"
    assert "FAIL" not in out
    fills = int(re.search(r"fills ([\d,]+)", out).group(1).replace(",", ""))
    certificates = int(re.search(r"certificates ([\d,]+)", out).group(1).replace(",", ""))
    assert fills > 0 and certificates > 0
    png, page = tmp_path / "community-day.png", tmp_path / "community-day.html"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Conservation checks" in page.read_text() and 'src="community-day.png"' in page.read_text()
    assert re.search(r"wall time [\d.]+ s \(6 meters", out)


def test_the_day_refuses_more_meters_than_one_process_serves():
    proc = subprocess.run([sys.executable, "-m", "demo", "--meters", "1000"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "--meters must be in [2, 80]" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "demo", "--meters", "4", "--firmware", "3", "--direct", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--firmware and --direct" in proc.stderr
