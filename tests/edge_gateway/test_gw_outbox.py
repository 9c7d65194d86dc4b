"""The SQLite outbox: order, delete only after acknowledgement, restarts, the full policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_gateway.errors import OutboxError, OutboxFull
from edge_gateway.storage.outbox import Outbox, RejectRecord


def _items(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"gtx/v1/meters/m{i % 3}/readings", b'{"n":%d}' % i) for i in range(start, start + n)]


def test_peek_is_in_arrival_order_and_removes_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", 100) as box:
        assert box.store(_items(10)) == 10
        first = box.peek(4)
        assert [(i.topic, i.payload) for i in first] == _items(4)
        assert box.peek(4) == first and box.depth == 10
        assert [i.id for i in box.peek(100)] == sorted(i.id for i in box.peek(100))


def test_delete_through_removes_only_the_acknowledged_prefix(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", 100) as box:
        box.store(_items(10))
        window = box.peek(6)
        assert box.delete_through(window[2].id) == 3  # upstream acknowledged three of six
        assert [(i.topic, i.payload) for i in box.peek(100)] == _items(7, start=3)
        assert box.depth == 7 and box.free == 93


def test_contents_and_order_survive_a_restart_and_ids_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, 100) as box:
        box.store(_items(5))
        last = box.peek(5)[-1].id
        box.delete_through(last)
        box.store(_items(2, start=5))
    with Outbox(path, 100) as box:
        assert box.depth == 2
        rows = box.peek(10)
        assert [(i.topic, i.payload) for i in rows] == _items(2, start=5)
        assert rows[0].id > last
        assert box.pragma("journal_mode") == "wal"
        assert box.pragma("synchronous") == 2  # FULL: a commit is on disk before the local ack


def test_full_outbox_refuses_the_whole_append_and_frees_space_after_deletes(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", 5) as box:
        box.store(_items(4))
        with pytest.raises(OutboxFull):
            box.store(_items(2, start=4))
        assert box.depth == 4 and [i.payload for i in box.peek(10)] == [p for _, p in _items(4)]
        box.store(_items(1, start=4))
        assert box.full and box.free == 0
        box.delete_through(box.peek(2)[-1].id)
        assert box.free == 2 and box.store(_items(2, start=5)) == 2


def test_a_redelivered_copy_still_queued_is_stored_once(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", 10) as box:
        assert box.store(_items(3)) == 3
        assert box.store(_items(3)) == 0 and box.depth == 3
        box.delete_through(box.peek(3)[-1].id)
        assert box.store(_items(1)) == 1  # once relayed, a later copy is relayed again


def test_rejects_are_kept_bounded_newest_first(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", 10, rejects_keep=3) as box:
        for i in range(5):
            box.store([], [RejectRecord("t", f"r{i}", "d", b"x" * 10_000)])
        kept = box.rejects()
        assert [r.reason for r in kept] == ["r4", "r3", "r2"]
        assert len(kept[0].payload) == 4096 and box.depth == 0


def test_an_unusable_path_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutboxError, match="cannot open outbox"):
        Outbox(tmp_path / "file" / "o.db", 10)
