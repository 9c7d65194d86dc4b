"""Reconnect backoff and the watchdog adapter on MicroPython."""

from __future__ import annotations

from pathlib import Path

from tests.support.micropython import run_cases, run_mp

MP_DIR = Path(__file__).parent / "mp"


def test_backoff_grows_caps_jitters_and_resets(fw_build: Path, tmp_path: Path) -> None:
    cases = [{"op": "backoff", "initial_ms": 100, "max_ms": 1000, "failures": 8}] * 20
    out = run_cases("backoff_wdt", cases, build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)
    nominal = [100, 200, 400, 800, 1000, 1000, 1000, 1000]
    seen_spread = set()
    for r in out:
        for wait, d in zip(r["waits"], nominal, strict=True):
            assert d // 2 <= wait <= d  # jittered within [d/2, d], never beyond the cap
            seen_spread.add(wait)
        assert r["ready_after_failure"] is False
        assert r["ready_after_success"] is True and r["failures_after_success"] == 0
    assert len(seen_spread) > 20  # the jitter really spreads a fleet out


def test_watchdog_not_fed_in_time_resets(fw_build: Path, tmp_path: Path) -> None:
    cases_path = tmp_path / "wdt.jsonl"
    cases_path.write_text('{"op": "wdt", "timeout_ms": 100, "late_ms": 250}\n')
    res = run_mp("import backoff_wdt\n", path=[Path(""), MP_DIR], cwd=fw_build,
                 env={"GTX_CASES": str(cases_path)})
    assert res.returncode == 75
    assert 'R "fed"' in res.stdout and "survived" not in res.stdout
    assert "watchdog: not fed for" in res.stdout
