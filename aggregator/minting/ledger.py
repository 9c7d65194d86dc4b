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
from datetime import timedelta

import asyncpg

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
    ) -> None:
        self.pool = pool
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
            batches = await repo.claim(conn, self.max_readings, max_meters)
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
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT attempts FROM mint_batches WHERE id = $1", batch_id)
            attempts = (row["attempts"] if row else 0) + 1
            batch = await repo.transition(
                conn, batch_id, ["claimed"], "intent",
                chain_production_before_wh=before.production_wh,
                chain_consumption_before_wh=before.consumption_wh,
                chain_settled_before_wh=before.settled_net_wh,
                attempts=attempts,
            )
        self._count("intent")
        return batch

    async def confirm(self, batch_id: int, result: MintResult) -> asyncpg.Record:
        """Record the landed transaction's signature and minted energy."""
        return await self._confirm(batch_id, result.signature, result.minted_wh, None)

    async def _confirm(
        self, batch_id: int, signature: str | None, minted_wh: int, note: str | None
    ) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            batch = await repo.transition(
                conn, batch_id, ["intent"], "confirmed",
                tx_signature=signature, minted_wh=minted_wh, last_error=note,
            )
            await repo.mark_readings_minted(conn, batch_id, signature)
        self._count("confirmed")
        if self.hub is not None:
            self.hub.publish({
                "type": "mint_confirmed", "batch_id": batch_id, "meter_id": batch["meter_id"],
                "minted_wh": minted_wh, "tx_signature": signature,
            })
        return batch

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
            await self._confirm(
                batch_id, None, now.settled_net_wh - before.settled_net_wh, "reconciled: landed"
            )
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
