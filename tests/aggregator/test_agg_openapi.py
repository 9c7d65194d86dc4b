"""The OpenAPI schema tells the truth: every operation documents its refusals, and a schema
fuzzer (schemathesis, its CLI in a separate process) finds no server error and no
undocumented status against the served app on a chain with a market."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from aggregator.app import create_app
from aggregator.config import Settings
from aggregator.openapi import ROUTE_ERRORS
from tests.aggregator.agg_served import served_floor

FUZZ_SECONDS = 45


def test_every_operation_documents_its_error_responses() -> None:
    schema = create_app(Settings(database_url="postgresql://unused/unused")).openapi()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert operations == set(ROUTE_ERRORS)
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            errors = {s: r for s, r in op["responses"].items() if s.startswith(("4", "5"))}
            assert "422" in errors, (method, path)
            for status, response in errors.items():
                if "x-reasons" in response:
                    assert response["x-reasons"], (method, path, status)
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    relay = schema["paths"]["/api/transactions"]["post"]["responses"]
    assert set(relay["422"]["x-reasons"]) >= {"malformed_request", "malformed_transaction", "instruction_not_allowed"}
    assert relay["504"]["x-reasons"] == ["confirmation_timeout"]


async def test_a_schema_fuzzer_finds_no_server_error_and_no_undocumented_response(pg_dsn: str,
                                                                                  tmp_path: Path) -> None:
    async with served_floor(pg_dsn) as (floor, url):
        # Something to find: a prosumer with GRID and a resting ask.
        seller = await floor.prosumer("fuzz", 1_000)
        await floor.place(seller, "sell", 100_000, 1_000)
        report = tmp_path / "junit.xml"
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("st")), "run", f"{url}/openapi.json",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance",
            "--max-time", str(FUZZ_SECONDS), "--workers", "1", "--phases", "examples,coverage,fuzzing",
            "--request-timeout", "20", "--suppress-health-check", "all", "--generation-deterministic",
            "--report", "junit", "--report-junit-path", str(report), "--no-color",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
        out, _ = await asyncio.wait_for(proc.communicate(), FUZZ_SECONDS * 4)
    text = out.decode(errors="replace")
    Path("/tmp/trade-st-out.txt").write_text(text) if os.environ.get("GTX_KEEP_FUZZ_LOG") else None
    assert proc.returncode == 0, text[-6000:]
    assert "operations" in text.lower() or "passed" in text.lower(), text[-2000:]
