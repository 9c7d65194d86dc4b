"""Property: THB supply equals the reserve at every step. Random deposits (matched, without
reference, over the limit), duplicate and malformed statements, withdrawals, payout files
and the bank's execution of them, all through the HTTP API; after each step the reserve
attestation shows no difference and the supply equals the sum of the wallets' THB."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from tests.aggregator.agg_helpers import Actors
from tests.aggregator.agg_payments_helpers import OPERATOR, Bank, import_statement, reference, reserve, withdraw
from tests.aggregator.test_agg_minter import wait_for
from tests.aggregator.test_agg_payments import rail_app, rail_of, thb_balance

MAX_DEPOSIT = 5_000_00  # 5,000 THB: larger deposits are held
PROPERTY = settings(max_examples=25, deadline=None, stateful_step_count=10,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass
class World:
    app: FastAPI
    http: httpx.AsyncClient
    wallets: list[Keypair]
    refs: list[str]
    bank: Bank = field(default_factory=Bank)
    expected: list[int] = field(default_factory=list)  # each wallet's THB as the model has it
    imported: list[bytes] = field(default_factory=list)
    file_produced: list[tuple[int, int]] = field(default_factory=list)  # (payout id, satang) awaiting the bank

    async def check(self) -> None:
        async def settled() -> bool:
            return [await thb_balance(self.app, w) for w in self.wallets] == self.expected
        await wait_for(settled)
        now = await reserve(self.http)
        assert now["difference"] == 0 and now["flagged"] is False, now
        assert now["supply"] == sum(self.expected), now
        assert now["bank_balance"] in (None, self.bank.balance), now


@pytest.fixture
async def world(pg_dsn: str, tmp_path: Path) -> AsyncIterator[World]:
    async with rail_app(pg_dsn, tmp_path, max_deposit_satang=MAX_DEPOSIT) as (app, http):
        wallets = [await Actors(http).user(f"thb-prop-{i}", "consumer") for i in range(3)]
        # The wallets hold no SOL: the rail pays the fees of mints and withdrawal burns.
        refs = [await reference(http, w) for w in wallets]
        yield World(app, http, wallets, refs, expected=[0] * len(wallets))


deposit = st.tuples(st.integers(0, 2), st.integers(1, 2 * MAX_DEPOSIT), st.sampled_from(["ref", "none", "typo"]))
step = st.one_of(
    st.tuples(st.just("deposit"), st.lists(deposit, min_size=1, max_size=3)),
    st.tuples(st.just("duplicate"), st.integers(0, 1000)),
    st.tuples(st.just("malformed"), st.sampled_from(["truncate", "currency", "balance", "account", "garbage"])),
    st.tuples(st.just("withdraw"), st.tuples(st.integers(0, 2), st.floats(0.01, 1.0))),
    st.tuples(st.just("payout_file"), st.none()),
    st.tuples(st.just("bank_pays"), st.none()),
)


async def run_step(w: World, kind: str, arg: object) -> None:
    if kind == "deposit":
        entries, gains = [], [0] * len(w.wallets)
        for who, satang, how in arg:  # type: ignore[attr-defined]
            ref = w.refs[who]
            typo = ref[:-1] + ("Q" if ref[-1] != "Q" else "R")  # check digits catch it: held
            remittance = {"ref": f"top-up {ref}", "none": "top-up", "typo": typo}[how]
            entries.append(w.bank.entry(satang, remittance=remittance))
            if how == "ref" and satang <= MAX_DEPOSIT:
                gains[who] += satang
        xml = w.bank.statement(entries)
        resp = await import_statement(w.http, xml)
        assert resp.status_code == 200, resp.text
        w.imported.append(xml)
        w.expected = [a + b for a, b in zip(w.expected, gains, strict=True)]
    elif kind == "duplicate" and w.imported:
        resp = await import_statement(w.http, w.imported[int(arg) % len(w.imported)])  # type: ignore[call-overload]
        assert resp.status_code == 200 and resp.json()["duplicate"] is True, resp.text
    elif kind == "malformed":
        before = (w.bank.balance, w.bank.statements)
        xml = w.bank.statement([w.bank.entry(1234, remittance=w.refs[0])])
        w.bank.balance, w.bank.statements = before  # the bank never sent it
        bad = {"truncate": xml[: len(xml) // 2], "currency": xml.replace(b'Ccy="THB"', b'Ccy="USD"'),
               "balance": xml.replace(b"<Amt Ccy=\"THB\">12.34</Amt>", b"<Amt Ccy=\"THB\">12.35</Amt>", 1),
               "account": xml.replace(w.bank.account.encode(), b"TH0000000000000"),
               "garbage": b"\x00\xff not a statement"}[str(arg)]
        resp = await import_statement(w.http, bad)
        assert resp.status_code == 422, resp.text
    elif kind == "withdraw":
        who, share = arg  # type: ignore[misc]
        amount = int(w.expected[who] * share)
        if amount > 0:
            payout = await withdraw(w.http, w.wallets[who], amount)
            assert payout["status"] == "burned"
            w.expected[who] -= amount
    elif kind == "payout_file":
        resp = await w.http.post("/api/payments/payout-files", headers=OPERATOR)
        assert resp.status_code in (200, 201), resp.text
        if resp.status_code == 201:
            ids = [int(x) for x in _end_to_end_ids(resp.json()["xml"])]
            async with rail_of(w.app).pool.acquire() as conn:
                rows = await conn.fetch("SELECT id, amount_satang FROM payouts WHERE id = ANY($1::bigint[])", ids)
            w.file_produced += [(r["id"], r["amount_satang"]) for r in rows]
    elif kind == "bank_pays" and w.file_produced:
        entries = [w.bank.entry(satang, direction="DBIT", end_to_end_id=f"GTXP-{pid}") for pid, satang in
                   w.file_produced]
        xml = w.bank.statement(entries)
        resp = await import_statement(w.http, xml)
        assert resp.status_code == 200 and resp.json()["payouts_confirmed"] == len(entries), resp.text
        w.imported.append(xml)
        w.file_produced = []


def _end_to_end_ids(xml: str) -> list[str]:
    return re.findall(r"<EndToEndId>GTXP-(\d+)</EndToEndId>", xml)


@PROPERTY
@given(steps=st.lists(step, min_size=1, max_size=6))
async def test_supply_equals_reserve_at_every_step(world: World, steps: list[tuple[str, object]]) -> None:
    for kind, arg in steps:
        await run_step(world, kind, arg)
        await world.check()
