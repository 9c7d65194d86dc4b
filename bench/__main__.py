"""Run the benchmarks and print a table; `--json PATH` also writes metric -> number."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import bench


def components() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("components", nargs="*", help=f"which to run (default: all of {', '.join(components())})")
    p.add_argument("--json", type=Path, metavar="PATH", help="write a flat JSON object of metric -> number")
    args = p.parse_args(argv)
    chosen = args.components or components()
    unknown = sorted(set(chosen) - set(components()))
    if unknown:
        p.error(f"unknown component(s): {', '.join(unknown)}; choose from {', '.join(components())}")

    metrics: dict[str, float] = {}
    rows: list[tuple[str, str, str, str]] = []
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        result = module.run()
        print(f"  {name}: {len(result)} metrics in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        units, goals = getattr(module, "UNITS", {}), getattr(module, "GOALS", {})
        for key, value in result.items():
            metrics[key] = value
            rows.append((key, fmt(value), units.get(key, ""), goals.get(key, "")))

    widths = [max(len(r[i]) for r in rows + [("metric", "value", "unit", "goal / reference")]) for i in range(4)]
    header = ("metric", "value", "unit", "goal / reference")
    print("  ".join(h.ljust(w) if i != 1 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) if i != 1 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    if args.json:
        args.json.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
