"""Smoke: app starts on a real database, a meter registers and a reading is stored."""

from __future__ import annotations

import httpx

from tests.aggregator.agg_helpers import Actors


async def test_register_and_submit(client: httpx.AsyncClient, actors: Actors) -> None:
    owner = await actors.user("alice")
    meter = await actors.meter(owner, "mtr-0001")
    resp = await client.post("/api/meters/submit-reading", content=meter.next())
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "accepted"
    resp = await client.post("/api/meters/submit-reading", content=meter.next())
    assert resp.status_code == 201, resp.text
    readings = (await client.get("/api/meters/mtr-0001/readings")).json()
    assert [r["seq"] for r in readings] == [2, 1]
    assert readings[0]["production_wh"] == 250 and readings[0]["consumption_wh"] == 100
