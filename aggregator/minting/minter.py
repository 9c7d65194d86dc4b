"""The minter: turns stored readings into GRID, event-driven with a periodic sweep.

New readings wake it at once (:meth:`Minter.wake`, called by ingest after a commit); a
sweep every ``sweep_s`` and the earliest retry time catch everything else. Each cycle:

1. reconcile batches left in ``intent`` (a crash or an unknown outcome): the chain's
   counters say whether the transaction landed, so nothing is submitted twice;
2. claim unminted readings (<= 50 per meter) and attempt every due batch, at most
   ``concurrency`` transactions in flight, one batch per meter;
3. repeat while there was work, then sleep until woken, the next retry, or the sweep.

Outcomes, per batch (the ledger keeps the state durable between steps):

* the transaction landed -> ``confirmed`` with its signature;
* it executed and failed (:class:`MintRejected`), or the chain could not be read before
  submitting -> retry with backoff (1 s, 2 s, 4 s), ``failed`` + alert after the maximum;
* the outcome is unknown (timeout, lost connection) -> decide from the chain's counters
  now; if they cannot be read the batch stays ``intent`` for the next cycle's reconcile.

Only one minter may run against a database: two would reconcile each other's batches
while they are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from aggregator.errors import Conflict
from aggregator.minting.ledger import MintLedger
from aggregator.minting.protocol import ChainMeterState, MeterNotOnChain, MintChain, MintRejected
from aggregator.minting.reconcile import Verdict, decide

log = logging.getLogger("aggregator.minter")


class Minter:
    def __init__(self, ledger: MintLedger, chain: MintChain, *, sweep_s: float = 60.0,
                 concurrency: int = 8, max_meters: int = 100) -> None:
        self.ledger = ledger
        self.chain = chain
        self.sweep_s = sweep_s
        self.max_meters = max_meters
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New readings were stored: run a cycle now (cheap; safe to call often)."""
        self._wake.set()

    async def run(self) -> None:
        """Mint until cancelled; a failing cycle is logged and retried after a pause."""
        while True:
            try:
                await self.cycle()
                pause = await self.ledger.seconds_until_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("mint cycle failed; retrying", extra={"fields": {"error": repr(exc)}})
                pause = 1.0
            timeout = self.sweep_s if pause is None else min(self.sweep_s, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def cycle(self) -> int:
        """One pass: reconcile, then claim and attempt until nothing is due. Returns batches attempted."""
        self._wake.clear()
        await self.recover()
        attempted = 0
        while True:
            claimed = await self.ledger.claim(self.max_meters)
            due = await self.ledger.due(self.max_meters)
            if not due:
                return attempted
            await asyncio.gather(*(self._attempt(b) for b in due))
            attempted += len(due)
            if not claimed and len(due) < self.max_meters:
                return attempted

    async def recover(self) -> None:
        """Settle batches whose outcome was never recorded (left in ``intent``)."""
        for batch in await self.ledger.open_intents():
            try:
                now = await self.chain.meter_state(batch["meter_id"])
            except Exception as exc:  # noqa: BLE001 - the chain is unreachable: try next cycle
                log.warning("cannot reconcile mint batch yet", extra={"fields": {
                    "batch_id": batch["id"], "error": repr(exc)}})
                continue
            await self.ledger.reconcile(batch["id"], now)

    async def _attempt(self, batch: asyncpg.Record) -> None:
        async with self._slots:
            batch_id, meter_id = batch["id"], batch["meter_id"]
            try:
                before = await self.chain.meter_state(meter_id)
            except MeterNotOnChain:
                await self.ledger.fail(batch_id, f"meter {meter_id} is not registered on chain")
                return
            except Exception as exc:  # noqa: BLE001 - nothing was submitted: plain retry
                await self.ledger.fail(batch_id, f"reading chain state: {exc!r}")
                return
            try:
                await self.ledger.record_intent(batch_id, before)
            except Conflict:
                return  # another cycle took it
            try:
                result = await self.chain.settle_and_mint(meter_id, batch["production_wh"], batch["consumption_wh"])
            except MintRejected as exc:  # executed and failed: nothing changed on chain
                await self.ledger.fail(batch_id, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - outcome unknown: ask the chain
                await self._settle_unknown(batch, before, exc)
                return
            await self.ledger.confirm(batch_id, result)

    async def _settle_unknown(self, batch: asyncpg.Record, before: ChainMeterState, exc: Exception) -> None:
        batch_id = batch["id"]
        log.warning("mint outcome unknown", extra={"fields": {"batch_id": batch_id, "error": repr(exc)}})
        try:
            now = await self.chain.meter_state(batch["meter_id"])
        except Exception:  # noqa: BLE001 - stays in intent; the next cycle reconciles it
            return
        if decide(before, now, batch["production_wh"], batch["consumption_wh"]) is Verdict.NOT_LANDED:
            await self.ledger.fail(batch_id, f"not landed: {exc!r}")
        else:
            await self.ledger.reconcile(batch_id, now)
