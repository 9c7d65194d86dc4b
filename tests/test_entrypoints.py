"""The README's commands behind `./gtx`: the demo and the bench runner."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wh(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the demo's output"
    return int(match.group(1).replace(",", ""))


def _left_behind(workdir: str) -> list[str]:
    """Processes whose command line names the demo's work dir (postgres, mosquitto, socat)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if workdir.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


def _workdir(stdout: str) -> str:
    match = re.search(r"work dir\s+(\S+)", stdout)
    assert match, stdout
    return match.group(1)


def _tokens(pattern: str, text: str) -> int:
    """A payment-token amount printed with 6 decimals, in base units."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the demo's output"
    whole, frac = match.group(1).replace(",", "").split(".")
    return int(whole) * 1_000_000 + int(frac)


def test_demo_mints_the_firmwares_readings_and_trades_them():
    proc = subprocess.run([sys.executable, "-m", "demo", "--short", "--readings", "4", "--meter-id", "MTR-TEST-9",
                           "--ask-price", "0.095"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # The device key the firmware generated is the one registered and read back from chain state.
    key = re.search(r"device key ([0-9a-f]{64})", out).group(1)
    assert f"firmware | key: public {key}" in out
    assert re.search(rf"meter\s+\S+: id MTR-TEST-9, owner \S+, location \S+, status active\s+device key {key}", out)
    assert re.search(r"type prosumer, meters 1", out) and re.search(r"type consumer, meters 0", out)
    # Every reading went firmware -> mosquitto -> aggregator and was minted.
    assert len(re.findall(r"reading  seq \d+ .*\[mqtt\]", out)) == 4
    assert re.search(r"readings stored\s+4 accepted, 0 rejected \(seq 1\.\.4, 4 minted\)", out)
    assert "GRID to the owner  tx " in out
    net = _wh(r"GRID due ([\d,]+) Wh", out)
    on_chain = _wh(r"GRID on chain\s+([\d,]+) Wh", out)
    by_aggregator = _wh(r"GRID by aggregator\s+([\d,]+) Wh", out)
    settled = _wh(r"settled production ([\d,]+) Wh", out)
    assert net > 0 and on_chain == by_aggregator == settled == net
    assert f"ok: 4 readings ingested over MQTT; chain balance = aggregator balance = signed export = {net:,} Wh" in out

    # The trade: half the minted GRID offered at 0.095 per kWh, a crossing bid at the default 0.12.
    assert "fee 25 bps" in out and "lot 1 Wh" in out and "stands in for a stablecoin deposit" in out
    assert len(re.findall(r"relayed: tx \S+  place_order, [\d,]+ CU", out)) == 2
    sold = net // 2
    value, improvement = 95 * sold, (120 - 95) * sold  # base units: price per kWh * Wh / 1000
    fee = -(-value * 25 // 10_000)
    assert re.search(r"asks\s+([\d,]+) Wh at 0\.095000/kWh", out).group(1) == f"{sold:,}"  # the book before matching
    assert _wh(r"trade\s+([\d,]+) Wh", out) == sold
    assert _tokens(r"trade .*value ([\d.,]+)", out) == value and _tokens(r"trade .*fee ([\d.,]+)", out) == fee
    assert _tokens(r"price improvement ([\d.,]+)", out) == improvement
    # Read back on chain, next to /api/trades and /api/orders: every line agrees.
    assert _wh(r"consumer GRID\s+\+([\d,]+) Wh  expected", out) == sold
    assert _wh(r"prosumer GRID\s+-([\d,]+) Wh  expected", out) == sold
    assert _tokens(r"prosumer payment\s+\+([\d.,]+)  expected", out) == value - fee
    assert _tokens(r"fee account\s+\+([\d.,]+)  expected", out) == fee
    assert _tokens(r"consumer payment\s+-([\d.,]+)  expected", out) == value
    assert _tokens(r"consumer payment .*, ([\d.,]+) refunded\)", out) == improvement
    for label in ("consumer GRID", "prosumer GRID", "prosumer payment", "fee account", "consumer payment",
                  "market volume", "market fees collected", "market GRID vault", "market payment vault",
                  "order accounts"):
        assert re.search(rf"   {label} .*  ok$", out, re.M), label
    assert re.search(r"/api/trades   1 trade: .*  ok$", out, re.M)
    assert re.search(r"/api/orders   ask #0: sell, filled [\d,]+ of [\d,]+ Wh, remaining 0, status filled, closed  ok$",
                     out, re.M)
    assert re.search(r"/api/orders   bid #1: buy, filled [\d,]+ of [\d,]+ Wh, remaining 0, status filled, closed  ok$",
                     out, re.M)
    assert "MISMATCH" not in out
    assert f"ok: traded {sold:,} Wh at 0.095000 per kWh" in out
    workdir = _workdir(out)
    assert not Path(workdir).exists() and not _left_behind(workdir)


def test_demo_stops_everything_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "demo", "--short", "--readings", "30"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("   reading  seq 2 "):
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode == 130, out + err
    assert "interrupted (SIGINT): everything stopped and removed" in err
    workdir = _workdir(out)
    deadline = time.monotonic() + 5  # children reaped by the demo have exited; allow the kernel a moment
    while _left_behind(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(workdir).exists() and not _left_behind(workdir)


def test_demo_help_explains_the_options():
    proc = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    for option in ("--readings", "--sim-hours", "--seed", "--meter-id", "--location", "--sell-wh", "--ask-price",
                   "--bid-price", "exit status"):
        assert option in proc.stdout


def test_demo_refuses_orders_that_do_not_cross():
    proc = subprocess.run([sys.executable, "-m", "demo", "--short", "--ask-price", "0.15", "--bid-price", "0.12"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--bid-price must be at least --ask-price" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "demo", "--short", "--ask-price", "0.1005"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "in steps of 0.001 per kWh" in proc.stderr


def test_bench_prints_a_table_and_writes_flat_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "programs", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    for key in ("registry.initialize.cu", "registry.register_user.cu", "registry.settle_and_mint.cu_per_meter"):
        assert isinstance(metrics[key], (int, float)) and metrics[key] > 0
        assert key in proc.stdout


def test_bench_refuses_an_unknown_component():
    proc = subprocess.run([sys.executable, "-m", "bench", "nonexistent"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown component" in proc.stderr
