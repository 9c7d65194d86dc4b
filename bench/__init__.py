"""Benchmarks: `python -m bench` (or `./gtx bench`) prints one table for every component.

Each module `bench/<component>.py` defines `run() -> dict[str, float]` (flat metric
name -> number, names prefixed by the component) and may define `UNITS` (metric -> unit
label) and `GOALS` (metric -> text shown beside the number). The runner imports every such
module, so a component adds its benchmark by adding its file.
"""
