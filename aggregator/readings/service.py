"""Ingest pipeline shared by MQTT and HTTP: parse, verify, validate, store — per batch.

Steps for a batch of raw envelopes:

1. parse every envelope (``common.envelope``), schema errors become rejections;
2. fetch the claimed meters' registered keys and verify all signatures on a thread
   pool (libsodium releases the GIL, so threads verify in parallel);
3. in one transaction: lock the meters' rows, run :mod:`aggregator.readings.rules`
   in sequence order, COPY accepted readings and rejections, advance meter state;
4. after commit, count metrics and publish confirmations.

A reading is reported accepted only once its transaction has committed, so callers
(HTTP responses, MQTT PUBACKs) acknowledge durable data only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import asyncpg

from aggregator.config import IngestPolicy
from aggregator.events.hub import EventHub
from aggregator.metrics import Metrics
from aggregator.readings import repository as repo
from aggregator.readings.reasons import Reason
from aggregator.readings.rules import Accepted, MeterState, Rejected, evaluate
from common.envelope import Envelope, EnvelopeError, default_backend, meter_from_topic, parse_envelopes, verify_batch

log = logging.getLogger("aggregator.ingest")


@dataclass(frozen=True, slots=True)
class Submission:
    """One raw envelope as received; ``topic`` is the MQTT topic it arrived on."""

    raw: bytes
    transport: str  # "mqtt" | "http"
    topic: str | None = None


@dataclass(slots=True)
class Outcome:
    """Result for one submission: ``accepted``, ``gap`` (recorded) or ``rejected``."""

    status: str = "rejected"
    reason: str | None = None
    detail: str = ""
    meter_id: str | None = None
    seq: int | None = None
    reading_id: int | None = None


@dataclass(slots=True)
class _Work:
    index: int
    sub: Submission
    env: Envelope | None = None
    outcome: Outcome = field(default_factory=Outcome)
    verified_with: bytes | None = None


def _signed(work: Iterable[_Work]) -> list[tuple[Envelope, bytes]]:
    """(envelope, key) of work items that parsed and found their meter's key."""
    pairs = []
    for w in work:
        assert w.env is not None and w.verified_with is not None
        pairs.append((w.env, w.verified_with))
    return pairs


@dataclass(slots=True)
class Prepared:
    """A parsed and signature-checked batch waiting for :meth:`IngestService.commit`."""

    work: list[_Work]
    started_s: float


def _printable(text: str) -> str:
    """Detail text quotes client input: make it storable (no NUL, no lone surrogates)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class IngestService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        policy: IngestPolicy,
        *,
        metrics: Metrics | None = None,
        hub: EventHub | None = None,
        executor: ThreadPoolExecutor | None = None,
        on_accepted: Callable[[], None] | None = None,
        envelope_backend: str | None = None,
    ) -> None:
        """``on_accepted`` is called after a commit that stored readings (wakes the minter).

        ``envelope_backend`` picks how envelopes are parsed and verified (see
        ``common.envelope.BACKENDS``); default: ``GTX_ENVELOPE_BACKEND`` or native.
        """
        self.pool = pool
        self.envelope_backend = envelope_backend or default_backend()
        self.on_accepted = on_accepted
        self.policy = policy
        self.metrics = metrics
        self.hub = hub
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(
            max_workers=policy.verify_threads, thread_name_prefix="gtx-verify"
        )

    def close(self) -> None:
        if self._own_executor:
            self.executor.shutdown(wait=True)

    async def ingest(self, submissions: Sequence[Submission]) -> list[Outcome]:
        """Validate and durably store a batch; one outcome per submission, in order."""
        return await self.commit(await self.prepare(submissions))

    async def prepare(self, submissions: Sequence[Submission]) -> Prepared:
        """Parse and verify signatures (no locks held): may run ahead of earlier commits."""
        started = time.perf_counter()
        work = [_Work(i, s) for i, s in enumerate(submissions)]
        loop = asyncio.get_running_loop()
        chunks = self._chunks(work)
        await asyncio.gather(*(loop.run_in_executor(self.executor, self._parse, c) for c in chunks))
        parsed = [w for w in work if w.env is not None]
        meter_ids = sorted({w.env.meter for w in parsed if w.env is not None})
        if meter_ids:
            async with self.pool.acquire() as conn:
                keys = await repo.fetch_keys(conn, meter_ids)
            await self._verify(parsed, keys)
        return Prepared(work, started)

    async def commit(self, prepared: Prepared) -> list[Outcome]:
        """Judge against locked meter state and store, in one transaction."""
        work = prepared.work
        candidates = [w for w in work if w.env is not None and w.outcome.reason is None]
        async with self.pool.acquire() as conn, conn.transaction():
            if candidates:
                await self._judge_and_store(conn, candidates, work)
            else:
                await self._store_rejections(conn, work)
        self._after_commit(work, time.perf_counter() - prepared.started_s)
        return [w.outcome for w in work]

    def _chunks(self, items: list[_Work]) -> list[list[_Work]]:
        n = min(self.policy.verify_threads, max(1, len(items) // 64))
        size = -(-len(items) // n) if items else 1
        return [items[i : i + size] for i in range(0, len(items), size)]

    # ------------------------------------------------------------------ phases

    def _parse(self, work: list[_Work]) -> None:
        limit = self.policy.max_envelope_bytes
        fitting = []
        for w in work:
            if len(w.sub.raw) > limit:
                self._reject(w, "too_large", f"{len(w.sub.raw)} > {limit} bytes")
            else:
                fitting.append(w)
        parsed = parse_envelopes([w.sub.raw for w in fitting], self.envelope_backend)
        topics: dict[str, str | EnvelopeError] = {}  # a batch holds few distinct topics
        for w, env in zip(fitting, parsed, strict=True):
            if isinstance(env, EnvelopeError):
                self._reject(w, env.reason, env.detail)
                continue
            reading = env.reading
            w.outcome.meter_id, w.outcome.seq = env.meter, reading["seq"]
            topic = w.sub.topic
            if topic is not None:
                topic_meter = topics.get(topic)
                if topic_meter is None:
                    try:
                        topic_meter = meter_from_topic(topic)
                    except EnvelopeError as exc:
                        topic_meter = exc
                    topics[topic] = topic_meter
                if isinstance(topic_meter, EnvelopeError):
                    self._reject(w, topic_meter.reason, topic_meter.detail)
                    continue
                if topic_meter != env.meter:
                    self._reject(w, Reason.TOPIC_MISMATCH, f"topic meter {topic_meter}")
                    continue
            w.env = env

    async def _verify(self, parsed: list[_Work], keys: dict[str, bytes]) -> None:
        todo: list[_Work] = []
        for w in parsed:
            assert w.env is not None
            key = keys.get(w.env.meter)
            if key is None:
                self._reject(w, Reason.UNKNOWN_METER, w.env.meter)
            else:
                w.verified_with = key
                todo.append(w)
        if not todo:
            return
        loop = asyncio.get_running_loop()
        chunks = self._chunks(todo)
        results = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self.executor,
                    verify_batch,
                    _signed(chunk),
                    self.envelope_backend,
                )
                for chunk in chunks
            )
        )
        for chunk, errors in zip(chunks, results, strict=True):
            for w, err in zip(chunk, errors, strict=True):
                if err is not None:
                    self._reject(w, err.reason, err.detail)

    async def _judge_and_store(
        self, conn: asyncpg.Connection, candidates: list[_Work], work: list[_Work]
    ) -> None:
        states = await repo.lock_states(conn, sorted({w.env.meter for w in candidates if w.env}))
        await self._recheck_rotated_keys(candidates, states)
        candidates = [w for w in candidates if w.outcome.reason is None]
        # Late readings (seq at or below the meter's last): look up their stored neighbours.
        late = [
            (w.env.meter, w.env.seq)
            for w in candidates
            if w.env is not None and w.env.kind == "reading"
            and (s := states.get(w.env.meter)) is not None
            and s.last_seq is not None and w.env.seq < s.last_seq
        ]
        around = await repo.neighbours(conn, late)
        now_s = int(time.time())
        # Judge each meter's readings in sequence order, as if they arrived one by one.
        candidates.sort(key=lambda w: (w.env.meter, w.env.seq) if w.env else ("", 0))
        rows: list[tuple] = []
        gaps: list[tuple] = []
        touched: dict[str, MeterState] = {}
        for w in candidates:
            env = w.env
            assert env is not None
            state = states.get(env.meter)
            if state is None:  # deleted between key fetch and lock
                self._reject(w, Reason.UNKNOWN_METER, env.meter)
                continue
            if env.kind == "gap":
                self._judge_gap(w, state, gaps, now_s)
                continue
            verdict = evaluate(
                state, env.reading, now_s=now_s, policy=self.policy,
                neighbours=around.get((env.meter, env.seq)),
            )
            if isinstance(verdict, Rejected):
                self._reject(w, verdict.reason, verdict.detail)
                continue
            assert isinstance(verdict, Accepted)
            touched[state.meter_id] = state
            r = env.reading
            rows.append((
                env.meter, r["seq"], r["ts"], r["int_s"], r["imp_wh"], r["exp_wh"],
                verdict.production_wh, verdict.consumption_wh, r["v_dv"], r["i_ma"], r["p_w"],
                r["pf_milli"], r["f_chz"], r["fw"], w.sub.raw, w.sub.transport,
            ))
            w.outcome.status = "accepted"
        stored_rows = await repo.insert_readings(conn, rows)
        ids = {(r["meter_id"], r["seq"]): r["id"] for r in stored_rows}
        for w in candidates:
            if w.outcome.status == "accepted" and w.env is not None:
                w.outcome.reading_id = ids.get((w.env.meter, w.env.seq))
                if w.outcome.reading_id is None:  # lost a race to an identical reading
                    w.outcome.status = "rejected"
                    self._reject(w, Reason.DUPLICATE_SEQUENCE, "stored concurrently")
        await repo.update_states(conn, list(touched.values()))
        await repo.insert_gaps(conn, gaps)
        await self._store_rejections(conn, work)

    async def _recheck_rotated_keys(self, candidates: list[_Work], states: dict[str, MeterState]) -> None:
        """A key rotated between fetch and lock: verify again with the locked key."""
        stale = [
            w for w in candidates
            if w.env is not None and (s := states.get(w.env.meter)) is not None
            and s.device_pubkey != w.verified_with
        ]
        if not stale:
            return
        for w in stale:
            assert w.env is not None
            w.verified_with = states[w.env.meter].device_pubkey
        errors = verify_batch(_signed(stale))
        for w, err in zip(stale, errors, strict=True):
            if err is not None:
                self._reject(w, err.reason, err.detail)

    def _judge_gap(self, w: _Work, state: MeterState, gaps: list, now_s: int) -> None:
        env = w.env
        assert env is not None
        if state.status != "active":
            self._reject(w, Reason.METER_INACTIVE, state.status)
            return
        r = env.reading
        # Bounded before any conversion: a signer-chosen ts must never reach to_timestamp.
        if r["ts"] != 0 and now_s - r["ts"] > self.policy.max_age_s:
            self._reject(w, Reason.TOO_OLD, f"gap reported at {r['ts']}")
            return
        if r["ts"] - now_s > self.policy.clock_skew_s:
            self._reject(w, Reason.FUTURE_TIMESTAMP, f"gap reported {r['ts'] - now_s} s ahead")
            return
        gaps.append((env.meter, r["from_seq"], r["to_seq"], r["ts"], w.sub.raw))
        w.outcome.status = "gap"

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _reject(w: _Work, reason: str, detail: str = "") -> None:
        w.outcome.status = "rejected"
        w.outcome.reason = str(reason)
        w.outcome.detail = detail

    async def _store_rejections(self, conn: asyncpg.Connection, work: list[_Work]) -> None:
        pruned = await repo.insert_rejections(conn, self._rejection_rows(work),
                                              keep_per_kind=self.policy.max_rejections_per_kind,
                                              keep_unregistered=self.policy.max_unregistered_rejections)
        if pruned and self.metrics is not None:
            self.metrics.rejections_pruned.inc(pruned)

    def _rejection_rows(self, work: list[_Work]) -> list[tuple]:
        cap = self.policy.max_envelope_bytes
        return [
            (w.sub.transport, w.outcome.meter_id, w.outcome.seq, w.outcome.reason,
             _printable(w.outcome.detail[:500]) or None, w.sub.raw[:cap])
            for w in work
            if w.outcome.status == "rejected"
        ]

    def _after_commit(self, work: list[_Work], elapsed_s: float) -> None:
        tally = Tally((w.sub.transport, w.outcome.status, w.outcome.reason or "") for w in work)
        if self.metrics is not None and work:
            transport = work[0].sub.transport
            self.metrics.batch_seconds.labels(transport).observe(elapsed_s)
            self.metrics.batch_size.labels(transport).observe(len(work))
            for (tr, status, reason), n in tally.items():
                self.metrics.readings.labels(tr, status, reason).inc(n)
        if self.on_accepted is not None and any(k[1] == "accepted" for k in tally):
            self.on_accepted()
        rejected = {k[2]: n for k, n in tally.items() if k[1] == "rejected"}
        if rejected:
            log.info("readings rejected", extra={"fields": {"reasons": rejected, "batch": len(work)}})
        if self.hub is not None and self.hub.has_subscribers:
            for w in work:
                if w.outcome.status in ("accepted", "gap"):
                    self.hub.publish({
                        "type": "reading_confirmed" if w.outcome.status == "accepted" else "gap_recorded",
                        "meter_id": w.outcome.meter_id,
                        "seq": w.outcome.seq,
                        "reading_id": w.outcome.reading_id,
                    })
