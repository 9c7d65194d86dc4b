"""Durable SQLite outbox: every accepted reading waits here until upstream PUBACKs it.

* WAL journal with ``synchronous=FULL``: a committed append survives a power cut, so
  the local broker may be acknowledged right after :meth:`Outbox.store` returns.
* Rows carry an ``AUTOINCREMENT`` id, so the relay order is the arrival order, also
  across restarts (ids are never reused, even after the table was emptied).
* Delete only after acknowledgement: :meth:`peek` hands out the oldest rows without
  removing them; :meth:`delete_through` removes them once upstream acknowledged.
* Bounded by ``max_messages``. When full, :meth:`store` raises :class:`OutboxFull`
  and writes nothing; the ingress then stops acknowledging the local broker, which
  keeps the backlog in the gateway's persistent session. Nothing is dropped here.
* Identical bytes on the same topic are one reading (an at-least-once redelivery):
  while the first copy is still queued, the second is not stored again.
* Rejected messages are kept in a small ``rejects`` table (the newest
  ``rejects_keep``) for an operator to inspect; they are never relayed. Whatever a
  publisher sent, a reject row can be written: text that is not valid UTF-8 (a lone
  surrogate decoded from a JSON escape, say) is stored with backslash escapes, long
  details and payloads are cut, so a poison message costs one row, never a crash.
* Readings of meters the gateway polls itself get their sequence numbers here
  (``own_seq``): :meth:`append_own` takes the next number and stores the reading in
  one transaction, so a number survives restarts, is never handed out twice, and is
  not spent on a reading that was never stored.

The outbox is single-writer: one gateway process, one connection. The gateway calls
it from worker threads (``asyncio.to_thread``) so that a commit's fsync never stalls
the event loop, which keeps reading the brokers meanwhile: the next commit then covers
everything that arrived during this one (group commit). A lock serialises the calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_gateway.errors import OutboxError, OutboxFull

__all__ = ["Outbox", "OutboxItem", "RejectRecord", "storable"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,   -- the envelope exactly as received
    digest      BLOB    NOT NULL UNIQUE,
    received_at REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS rejects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    received_at REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS own_seq (
    meter       TEXT    PRIMARY KEY,
    last_seq    INTEGER NOT NULL     -- highest seq stored for a directly polled meter
);
"""
#: Longest stored copy of a rejected message (a reject may be arbitrarily large).
_REJECT_PAYLOAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One queued reading: ``payload`` is the verbatim envelope."""

    id: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """One rejected local message, as kept in the rejects table."""

    topic: str
    reason: str
    detail: str
    payload: bytes


def storable(text: object, limit: int | None = None) -> str:
    """``text`` as a string SQLite can store: valid UTF-8 (lone surrogates and other
    unencodable code points become ``\\udXXX`` escapes), at most ``limit`` characters."""
    value = text if isinstance(text, str) else repr(text)
    if limit is not None:
        value = value[:limit]
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _digest(topic: str, payload: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\x00" + payload).digest()


class Outbox:
    """Append, peek in order, delete after acknowledgement."""

    def __init__(self, path: Path, max_messages: int, rejects_keep: int = 1000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.path = Path(path)
        self.max_messages = max_messages
        self.rejects_keep = rejects_keep
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._depth = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ state

    @property
    def depth(self) -> int:
        """Readings waiting for an upstream acknowledgement."""
        return self._depth

    @property
    def free(self) -> int:
        """How many more readings fit before the outbox is full."""
        return max(self.max_messages - self._depth, 0)

    @property
    def full(self) -> bool:
        return self._depth >= self.max_messages

    # ------------------------------------------------------------------ writes

    def store(self, accepted: Sequence[tuple[str, bytes]], rejects: Sequence[RejectRecord] = ()) -> int:
        """Append ``(topic, payload)`` readings and reject records in one transaction.

        Returns how many readings were newly queued (a redelivered copy of a reading
        still in the outbox is not queued twice). Raises :class:`OutboxFull` without
        writing anything if the readings do not fit.
        """
        with self._lock:
            return self._store(accepted, rejects)

    def _store(self, accepted: Sequence[tuple[str, bytes]], rejects: Sequence[RejectRecord]) -> int:
        if len(accepted) > self.free:
            raise OutboxFull(f"{len(accepted)} readings do not fit ({self._depth}/{self.max_messages} queued)")
        now = time.time()
        added = 0
        with self._write():
            for topic, payload in accepted:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (topic, payload, digest, received_at) VALUES (?, ?, ?, ?)",
                    (topic, bytes(payload), _digest(topic, payload), now),
                )
                added += cur.rowcount
            if rejects:
                self._db.executemany(
                    "INSERT INTO rejects (topic, reason, detail, payload, received_at) VALUES (?, ?, ?, ?, ?)",
                    [(storable(r.topic, 500), storable(r.reason, 64), storable(r.detail, 500),
                      bytes(r.payload[:_REJECT_PAYLOAD_BYTES]), now)
                     for r in rejects],
                )
                self._db.execute(
                    "DELETE FROM rejects WHERE id <= (SELECT max(id) FROM rejects) - ?", (self.rejects_keep,)
                )
        self._depth += added
        return added

    def append_own(self, meter: str, topic: str, build: Callable[[int], bytes]) -> int:
        """Store ``build(seq)`` with ``meter``'s next sequence number; returns that seq.

        The number and the reading commit together: if ``build`` raises or the commit
        fails, neither is written. Raises :class:`OutboxFull` without writing when full.
        """
        with self._lock:
            return self._append_own(meter, topic, build)

    def _append_own(self, meter: str, topic: str, build: Callable[[int], bytes]) -> int:
        if self.full:
            raise OutboxFull(f"outbox full ({self._depth}/{self.max_messages} queued)")
        with self._write():
            row = self._db.execute("SELECT last_seq FROM own_seq WHERE meter = ?", (meter,)).fetchone()
            seq = 1 if row is None else int(row[0]) + 1
            payload = build(seq)
            self._db.execute(
                "INSERT INTO outbox (topic, payload, digest, received_at) VALUES (?, ?, ?, ?)",
                (topic, payload, _digest(topic, payload), time.time()),
            )
            self._db.execute(
                "INSERT INTO own_seq (meter, last_seq) VALUES (?, ?) "
                "ON CONFLICT (meter) DO UPDATE SET last_seq = excluded.last_seq", (meter, seq))
        self._depth += 1
        return seq

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: committed whole, or rolled back whole (also when the body
        raises something other than a database error); database errors become OutboxError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox append failed: {exc}") from exc

    def last_own_seq(self, meter: str) -> int:
        """Highest sequence number stored for a directly polled meter (0: none yet)."""
        with self._lock:
            row = self._db.execute("SELECT last_seq FROM own_seq WHERE meter = ?", (meter,)).fetchone()
        return 0 if row is None else int(row[0])

    def delete_through(self, last_id: int) -> int:
        """Delete every queued reading with ``id <= last_id`` (all acknowledged upstream)."""
        with self._lock:
            try:
                cur = self._db.execute("DELETE FROM outbox WHERE id <= ?", (last_id,))
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox delete failed: {exc}") from exc
            self._depth -= cur.rowcount
            return cur.rowcount

    # ------------------------------------------------------------------ reads

    def peek(self, limit: int) -> list[OutboxItem]:
        """The oldest ``limit`` readings, in arrival order; nothing is removed."""
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?", (limit,)
                ).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox read failed: {exc}") from exc
        return [OutboxItem(int(i), str(t), bytes(p)) for i, t, p in rows]

    def oldest_age_s(self) -> float:
        """Seconds the oldest queued reading has waited (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT min(received_at) FROM outbox").fetchone()
        return 0.0 if row[0] is None else max(time.time() - float(row[0]), 0.0)

    def rejects(self, limit: int = 100) -> list[RejectRecord]:
        """The newest kept rejects, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT topic, reason, detail, payload FROM rejects ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [RejectRecord(str(t), str(r), str(d), bytes(p)) for t, r, d, p in rows]

    def pragma(self, name: str) -> object:
        """Current value of a SQLite pragma (for health checks and tests)."""
        if not name.isidentifier():
            raise ValueError(name)
        with self._lock:
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
