"""The minter: turns stored readings into GRID, event-driven with a periodic sweep.

New readings wake it at once (:meth:`Minter.wake`, called by ingest after a commit); a
sweep every ``sweep_s`` and the earliest retry time catch everything else. Each cycle:

1. reconcile batches left in ``intent`` (a crash or an unknown outcome): the chain's
   counters say whether the transaction landed, so nothing is submitted twice;
2. claim unminted readings (<= 50 per meter) and attempt every due batch: up to
   ``max_meters_per_tx`` meters share one transaction, at most ``concurrency``
   transactions in flight, one batch per meter;
3. repeat while there was work, then sleep until woken, the next retry, or the sweep.

Outcomes, per batch (the ledger keeps the state durable between steps):

* the transaction landed -> ``confirmed`` with its signature;
* it executed and failed (:class:`MintRejected`), or the chain could not be read before
  submitting -> retry with backoff (1 s, 2 s, 4 s), ``failed`` + alert after the maximum;
  when several meters shared the failed transaction, each is first retried alone at
  once (without counting that attempt), so one bad meter never holds up the others;
* the outcome is unknown (timeout, lost connection) -> decide from the chain's counters
  now; if they cannot be read the batch stays ``intent`` for the next cycle's reconcile;
* the chain names another owner for the meter than this database -> ``failed`` at once
  with an ``owner_mismatch`` alert: GRID is only ever minted to the owner both agree on.

Only one minter may run against a database: two would reconcile each other's batches
while they are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from aggregator.minting.ledger import MintLedger
from aggregator.minting.protocol import ChainMeterState, MeterDelta, MintChain, MintRejected
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
            except Exception as exc:  # noqa: BLE001 - the minter must outlive any one failure
                log.exception("mint cycle failed; retrying", extra={"fields": {"error": repr(exc)}})
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
            size = self.chain.max_meters_per_tx
            await asyncio.gather(*(self._attempt(due[i : i + size]) for i in range(0, len(due), size)))
            attempted += len(due)
            if not claimed and len(due) < self.max_meters:
                return attempted

    async def recover(self) -> None:
        """Settle batches whose outcome was never recorded (left in ``intent``)."""
        open_batches = await self.ledger.open_intents()
        if not open_batches:
            return
        try:
            states = await self.chain.meter_states([b["meter_id"] for b in open_batches])
        except Exception as exc:  # noqa: BLE001 - the chain is unreachable: try next cycle
            log.warning("cannot reconcile mint batches yet", extra={"fields": {"error": repr(exc)}})
            return
        for batch in open_batches:
            if batch["meter_id"] in states:
                await self.ledger.reconcile(batch["id"], states[batch["meter_id"]])
            else:  # e.g. a fresh in-process chain under a database that outlived the last one
                log.error("mint batch in flight for a meter the chain does not know; an operator must look",
                          extra={"fields": {"batch_id": batch["id"], "meter_id": batch["meter_id"]}})

    async def _attempt(self, batches: list[asyncpg.Record]) -> None:
        """One transaction for these batches (distinct meters)."""
        async with self._slots:
            rejected = await self._submit(batches)
        if rejected is not None:
            await self._rejected(*rejected)

    async def _submit(self, batches: list[asyncpg.Record]) -> tuple[list[asyncpg.Record], MintRejected] | None:
        try:
            states = await self.chain.meter_states([b["meter_id"] for b in batches])
        except Exception as exc:  # noqa: BLE001 - nothing was submitted: plain retry
            for b in batches:
                await self.ledger.fail(b["id"], f"reading chain state: {exc!r}")
            return None
        owners = await self.ledger.owner_wallets([b["meter_id"] for b in batches])
        go = []
        for b in batches:
            state = states.get(b["meter_id"])
            if state is None:
                await self.ledger.fail(b["id"], f"meter {b['meter_id']} is not registered on chain")
            elif state.owner != owners.get(b["meter_id"]):
                # GRID goes to the chain's owner: never mint a database owner's readings to another wallet.
                await self.ledger.refuse(b["id"], "owner_mismatch", (
                    f"meter {b['meter_id']} belongs to {owners.get(b['meter_id'])} here and to {state.owner} on chain"))
            else:
                go.append(b)
        # Batches another cycle took are left out of the recorded intents.
        ready = await self.ledger.record_intents([(b["id"], states[b["meter_id"]]) for b in go])
        if not ready:
            return None
        try:
            results = await self.chain.settle_many(
                [MeterDelta(b["meter_id"], b["production_wh"], b["consumption_wh"]) for b in ready], states)
        except MintRejected as exc:  # executed and failed: nothing changed on chain
            return ready, exc
        except Exception as exc:  # noqa: BLE001 - outcome unknown: ask the chain
            await self._settle_unknown(ready, states, exc)
            return None
        await self.ledger.confirm_many([(b["id"], results[b["meter_id"]]) for b in ready])
        return None

    async def _rejected(self, batches: list[asyncpg.Record], exc: MintRejected) -> None:
        if len(batches) == 1:
            await self.ledger.fail(batches[0]["id"], str(exc))
            return
        for b in batches:
            await self.ledger.release(b["id"], f"shared transaction failed: {exc}")
        log.info("mint transaction rejected; retrying its meters one by one",
                 extra={"fields": {"meters": [b["meter_id"] for b in batches], "error": str(exc)}})
        for b in batches:
            await self._attempt([await self.ledger.get(b["id"])])

    async def _settle_unknown(self, batches: list[asyncpg.Record], before: dict[str, ChainMeterState],
                              exc: Exception) -> None:
        log.warning("mint outcome unknown", extra={"fields": {
            "batch_ids": [b["id"] for b in batches], "error": repr(exc)}})
        try:
            now = await self.chain.meter_states([b["meter_id"] for b in batches])
        except Exception:  # noqa: BLE001 - stays in intent; the next cycle reconciles it
            return
        for b in batches:
            state = now[b["meter_id"]]
            verdict = decide(before[b["meter_id"]], state, b["production_wh"], b["consumption_wh"])
            if verdict is Verdict.NOT_LANDED:
                await self.ledger.fail(b["id"], f"not landed: {exc!r}")
            else:
                await self.ledger.reconcile(b["id"], state)
