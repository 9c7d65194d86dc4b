"""The crash-safe mint state machine over PostgreSQL (what the minter loop drives).

Protocol for one batch, each step its own committed transaction:

1. :meth:`MintLedger.claim` — group unminted readings per meter (<= 50) into batches;
2. read the chain's counters, :meth:`record_intent` them (durable *before* submitting);
3. call ``settle_and_mint``; on success :meth:`confirm` with the tx signature, on error
   :meth:`fail` (exponential backoff 1 s, 2 s, 4 s ...; ``failed`` + alert after max);
4. after a crash, :meth:`open_intents` lists batches whose outcome is unknown and
   :meth:`reconcile` settles each one from the chain's counters — a batch is never
   submitted twice once its counters show it landed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import asyncpg

from aggregator.errors import Conflict
from aggregator.events.hub import EventHub
from aggregator.metrics import Metrics
from aggregator.minting import repository as repo
from aggregator.minting.protocol import ChainMeterState, MintResult
from aggregator.minting.reconcile import Verdict, decide

log = logging.getLogger("aggregator.minting")


class MintLedger:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_readings: int = 50,
        max_attempts: int = 3,
        backoff_base_s: float = 1.0,
        metrics: Metrics | None = None,
        hub: EventHub | None = None,
        owner_batches_per_hour: int = 0,
    ) -> None:
        self.pool = pool
        self.owner_batches_per_hour = owner_batches_per_hour
        self.max_readings = max_readings
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.metrics = metrics
        self.hub = hub

    def backoff(self, attempts: int) -> timedelta:
        """Delay before attempt ``attempts + 1``: base * 2^(attempts-1) (1 s, 2 s, 4 s)."""
        return timedelta(seconds=self.backoff_base_s * 2 ** max(0, attempts - 1))

    async def claim(self, max_meters: int = 100) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn, conn.transaction():
            batches = await repo.claim(conn, self.max_readings, max_meters, self.owner_batches_per_hour)
        for b in batches:
            self._count(b["state"])
        return [b for b in batches if b["state"] == "claimed"]

    async def due(self, limit: int = 100) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await repo.due(conn, limit)

    async def get(self, batch_id: int) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            return await repo.get(conn, batch_id)

    async def record_intent(self, batch_id: int, before: ChainMeterState) -> asyncpg.Record:
        """Record the chain's counters before submitting (durable before the transaction is sent)."""
        recorded = await self.record_intents([(batch_id, before)])
        if not recorded:
            async with self.pool.acquire() as conn:
                current = await repo.get(conn, batch_id)
            raise Conflict("bad_batch_state", f"batch {batch_id} is {current['state']}, expected ['claimed']")
        return recorded[0]

    async def record_intents(self, intents: Sequence[tuple[int, ChainMeterState]]) -> list[asyncpg.Record]:
        """:meth:`record_intent` for several batches in one statement; batches that are no
        longer ``claimed`` (another cycle took them) are left out of the result."""
        if not intents:
            return []
        async with self.pool.acquire() as conn:
            rows = await repo.record_intents(conn, [
                (batch_id, s.production_wh, s.consumption_wh, s.settled_production_wh) for batch_id, s in intents])
        for _ in rows:
            self._count("intent")
        return rows

    async def confirm(self, batch_id: int, result: MintResult) -> asyncpg.Record:
        """Record the landed transaction's signature and minted energy."""
        return (await self.confirm_many([(batch_id, result)]))[0]

    async def confirm_many(self, results: Sequence[tuple[int, MintResult]]) -> list[asyncpg.Record]:
        """:meth:`confirm` for the batches of one transaction, in one database transaction."""
        return await self._confirm([(batch_id, r.signature, r.minted_wh, None) for batch_id, r in results])

    async def _confirm(self, outcomes: Sequence[tuple[int, str | None, int, str | None]]) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn, conn.transaction():
            batches = await repo.confirm_many(conn, outcomes)
        for batch in batches:
            self._count("confirmed")
            if self.hub is not None:
                self.hub.publish({
                    "type": "mint_confirmed", "batch_id": batch["id"], "meter_id": batch["meter_id"],
                    "minted_wh": batch["minted_wh"], "tx_signature": batch["tx_signature"],
                })
        return batches

    async def fail(self, batch_id: int, error: str) -> asyncpg.Record:
        """A submission failed (or could not start): retry later with backoff, or give up and alert.

        From ``intent`` the attempt was counted when the intent was recorded; from
        ``claimed`` (the chain could not even be read) it is counted here.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            current = await repo.get(conn, batch_id, lock=True)
            attempts = current["attempts"] + (1 if current["state"] == "claimed" else 0)
            if attempts >= self.max_attempts:
                batch = await repo.transition(conn, batch_id, ["intent", "claimed"], "failed",
                                              attempts=attempts, last_error=error[:1000])
                self._alert("max_attempts", batch)
            else:
                batch = await repo.transition(
                    conn, batch_id, ["intent", "claimed"], "claimed", attempts=attempts, last_error=error[:1000],
                    next_attempt_at=await conn.fetchval("SELECT now() + $1::interval", self.backoff(attempts)),
                )
        self._count(batch["state"])
        return batch

    async def owner_wallets(self, meter_ids: Sequence[str]) -> dict[str, str]:
        async with self.pool.acquire() as conn:
            return await repo.owner_wallets(conn, meter_ids)

    async def refuse(self, batch_id: int, reason: str, error: str) -> asyncpg.Record:
        """A batch that must not be attempted (e.g. the chain names another owner): ``failed``
        at once, with an alert; an operator decides (requeue after fixing the cause)."""
        async with self.pool.acquire() as conn:
            batch = await repo.transition(conn, batch_id, ["claimed"], "failed", last_error=f"{reason}: {error}"[:1000])
        self._count("failed")
        self._alert(reason, batch)
        return batch

    async def release(self, batch_id: int, note: str) -> asyncpg.Record:
        """The transaction carrying this batch failed because of another meter in it: back to
        ``claimed``, due now, and the attempt is not counted against this batch."""
        async with self.pool.acquire() as conn:
            batch = await repo.release(conn, batch_id, note[:1000])
        self._count("claimed")
        return batch

    async def seconds_until_due(self) -> float | None:
        """Time until the next ``claimed`` batch may be attempted (None: no batch waits)."""
        async with self.pool.acquire() as conn:
            wait = await conn.fetchval(
                """SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
                   FROM mint_batches WHERE state = 'claimed'""")
        return None if wait is None else max(0.0, wait)

    async def open_intents(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await repo.in_state(conn, "intent")

    async def reconcile(self, batch_id: int, now: ChainMeterState) -> Verdict:
        """Settle an ``intent`` batch from the chain's current counters (after a crash)."""
        async with self.pool.acquire() as conn:
            batch = await repo.get(conn, batch_id)
        before = ChainMeterState(
            batch["chain_production_before_wh"], batch["chain_consumption_before_wh"],
            batch["chain_settled_before_wh"],
        )
        verdict = decide(before, now, batch["production_wh"], batch["consumption_wh"])
        if verdict is Verdict.LANDED:
            # Landed before the crash; its signature was never recorded.
            landed_wh = now.settled_production_wh - before.settled_production_wh
            await self._confirm([(batch_id, None, landed_wh, "reconciled: landed")])
        elif verdict is Verdict.NOT_LANDED:
            async with self.pool.acquire() as conn:
                await repo.transition(
                    conn, batch_id, ["intent"], "claimed", last_error="reconciled: not landed"
                )
            self._count("claimed")
        else:
            async with self.pool.acquire() as conn, conn.transaction():
                b = await repo.transition(conn, batch_id, ["intent"], "conflict", last_error="reconciled: conflict")
            self._alert("conflict", b)
        log.info("mint batch reconciled", extra={"fields": {"batch_id": batch_id, "verdict": str(verdict)}})
        return verdict

    async def requeue(self, batch_id: int) -> asyncpg.Record:
        """Operator action: give a failed batch a fresh set of attempts."""
        async with self.pool.acquire() as conn:
            return await repo.transition(conn, batch_id, ["failed"], "claimed", attempts=0, last_error=None)

    def _count(self, state: str) -> None:
        if self.metrics is not None:
            self.metrics.mint_batches.labels(state).inc()

    def _alert(self, reason: str, batch: asyncpg.Record) -> None:
        log.error("mint batch needs an operator", extra={"fields": {
            "reason": reason, "batch_id": batch["id"], "meter_id": batch["meter_id"],
            "attempts": batch["attempts"], "error": batch["last_error"]}})
        if self.metrics is not None:
            self.metrics.mint_alerts.labels(reason).inc()
