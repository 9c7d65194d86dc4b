"""The certificates benchmark measures every instruction the IDL declares."""

from __future__ import annotations

import re

from aggregator.chain.certificates import Certificates
from bench import certificates as bench


def test_bench_reports_compute_units_for_every_instruction():
    result = bench.run()
    names = [re.sub(r"(?<!^)(?=[A-Z])", "_", ix["name"]).lower()
             for ix in Certificates().program.idl_json["instructions"]]
    for name in names:
        cu = result[f"certificates.{name}.cu"]
        assert 300 < cu < 200_000, (name, cu)
        assert bench.UNITS[f"certificates.{name}.cu"] == "CU"
    # the first certificate of a meter also creates its tracker
    assert result["certificates.issue.cu_first_for_meter"] > result["certificates.issue.cu"]
    assert set(result) == set(bench.UNITS)
