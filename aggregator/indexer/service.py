"""The indexer: chain history → ``chain_events`` and its effects in PostgreSQL (chain wins).

For each indexed program address the indexer asks the backend for the signatures newer
than its durable cursor (paging back with ``before`` when there are more than a page),
then walks them oldest first in batches: fetch each transaction, decode the events of
every indexed program (:mod:`aggregator.indexer.decode`), and in **one** database
transaction store them, apply their effects and advance the cursor. A crash between
batches loses nothing (the cursor still points before the batch) and a batch re-read
stores nothing twice (``UNIQUE (signature, idx)``, effects only for new rows). Failed
transactions move the cursor but store nothing: the chain rolled them back.

One transaction often names several indexed programs (``settle_and_mint`` names the
registry and energy_token); it is decoded once per sync and its events are attributed
in full, whichever address listed it first.

Errors: :class:`IndexerError` when history is inconsistent (a listed transaction cannot
be fetched yet); backend, decoding and database errors propagate from ``sync_once`` and
are logged and retried by ``run``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg
from solders.pubkey import Pubkey

from aggregator.chain.backend import ChainBackend, SignatureInfo, TxRecord
from aggregator.chain.programs import GtxProgram
from aggregator.errors import RETRYABLE, TransientError
from aggregator.events.hub import EventHub
from aggregator.indexer import repository as repo
from aggregator.indexer.decode import decode_transaction

log = logging.getLogger("aggregator.indexer")


class IndexerError(TransientError):
    """History the backend listed cannot be read consistently (e.g. a signature whose
    transaction is not served yet); the sync stops before it and is retried."""


class Indexer:
    """Mirror the chain's events for `programs` into PostgreSQL.

    ``page_limit`` is the page size asked of ``signatures_for_address`` (a cluster caps it
    at 1000); ``batch_size`` transactions are stored per database transaction;
    ``fetch_concurrency`` bounds concurrent ``transaction`` calls (RPC round trips).
    """

    def __init__(self, pool: asyncpg.Pool, backend: ChainBackend, programs: Iterable[GtxProgram], *,
                 hub: EventHub | None = None, poll_s: float = 2.0, page_limit: int = 500,
                 batch_size: int = 100, fetch_concurrency: int = 8, retry_s: float = 5.0) -> None:
        if page_limit < 1 or batch_size < 1 or fetch_concurrency < 1:
            raise ValueError("page_limit, batch_size and fetch_concurrency must be positive")
        self.pool = pool
        self.backend = backend
        self.programs: dict[Pubkey, GtxProgram] = {p.program_id: p for p in programs}
        if not self.programs:
            raise ValueError("the indexer needs at least one program")
        self.hub = hub
        self.poll_s = poll_s
        self.page_limit = page_limit
        self.batch_size = batch_size
        self.retry_s = retry_s
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._woken = asyncio.Event()
        #: called after a batch that indexed a ``MeterRegistered`` (the minter's wake-up)
        self.on_meter_registered: Callable[[], None] | None = None

    def wake(self) -> None:
        """Sync now rather than at the next poll (the relay calls it after a transaction
        it relayed landed, so a user's order is indexed within one sync, not one poll)."""
        self._woken.set()

    async def run(self) -> None:
        """Sync every `poll_s` until cancelled; a failed sync is logged and retried after
        `retry_s` (what was committed before the failure stays committed)."""
        while True:
            try:
                stored = await self.sync_once()
            except RETRYABLE as exc:
                log.warning("indexer sync failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
                await asyncio.sleep(self.retry_s)
                continue
            if stored:
                log.info("chain events indexed", extra={"fields": {"stored": stored}})
            try:
                await asyncio.wait_for(self._woken.wait(), self.poll_s)
            except TimeoutError:
                pass
            self._woken.clear()

    async def sync_once(self) -> int:
        """Index everything new since the cursors; return the number of events stored."""
        done: set[str] = set()  # signatures handled in this sync, under any address
        stored = 0
        for address in self.programs:
            stored += await self._sync_address(str(address), done)
        return stored

    async def _sync_address(self, address: str, done: set[str]) -> int:
        async with self.pool.acquire() as conn:
            until = await repo.cursor(conn, address)
        pending = await self._signatures_since(Pubkey.from_string(address), until)
        stored = 0
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start:start + self.batch_size]
            fresh = [s for s in batch if s.signature not in done]
            records = await asyncio.gather(*(self._fetch(s) for s in fresh))
            rows = [row for info, record in zip(fresh, records) for row in self._rows(info, record)]
            async with self.pool.acquire() as conn, conn.transaction():
                inserted = await repo.insert_events(conn, rows)
                await repo.apply_effects(conn, inserted)
                await repo.set_cursor(conn, address, batch[-1].signature, batch[-1].slot)
            done.update(s.signature for s in batch)
            stored += len(inserted)
            if self.on_meter_registered is not None and any(e["name"] == "MeterRegistered" for e in inserted):
                self.on_meter_registered()
            self._publish(inserted)
        return stored

    async def _signatures_since(self, address: Pubkey, until: str | None) -> list[SignatureInfo]:
        """Every signature newer than `until`, oldest first, paging back from the tip."""
        newest_first: list[SignatureInfo] = []
        before: str | None = None
        while True:
            page = await self.backend.signatures_for_address(address, until=until, limit=self.page_limit,
                                                             before=before)
            newest_first.extend(page)
            if len(page) < self.page_limit:
                break
            before = page[-1].signature
        newest_first.reverse()
        return newest_first

    async def _fetch(self, info: SignatureInfo) -> TxRecord:
        async with self._fetch_slots:
            record = await self.backend.transaction(info.signature)
        if record is None:
            raise IndexerError("transaction_not_served", f"transaction {info.signature} is listed but not served")
        return record

    def _rows(self, info: SignatureInfo, record: TxRecord) -> list[tuple[Any, ...]]:
        if not record.ok:
            return []
        return [(info.signature, e.idx, record.slot, str(e.program.program_id), e.program.name, e.name,
                 e.meter_id, e.data)
                for e in decode_transaction(self.programs, record.logs)]

    def _publish(self, inserted: Sequence[asyncpg.Record]) -> None:
        if self.hub is None:
            return
        for e in inserted:
            self.hub.publish({"type": "chain_event", "signature": e["signature"], "idx": e["idx"],
                              "slot": e["slot"], "program": e["program"], "name": e["name"],
                              "meter_id": e["meter_id"], "data": json.loads(e["data"])})
