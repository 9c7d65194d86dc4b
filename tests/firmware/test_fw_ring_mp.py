"""The flash ring on MicroPython: order, acknowledgement, bounded overflow with
explicit gaps, torn slots, and a sequence number that never goes backwards."""

from __future__ import annotations

from pathlib import Path

from tests.support.micropython import run_cases

MP_DIR = Path(__file__).parent / "mp"


def _ops(ops: list[dict], fw_build: Path, tmp_path: Path) -> list[object]:
    import os

    os.environ["GTX_RING"] = str(tmp_path / "ring.bin")
    try:
        return run_cases("ring_ops", ops, build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)
    finally:
        del os.environ["GTX_RING"]


def test_in_order_delivery_and_ack_survive_reopen(fw_build: Path, tmp_path: Path) -> None:
    out = _ops([
        {"op": "open", "slots": 8},
        {"op": "append", "first": 1, "last": 5},
        {"op": "ack", "seq": 3},
        {"op": "open", "slots": 8},
        {"op": "pending"},
        {"op": "drain"},
        {"op": "open", "slots": 8},
        {"op": "append", "first": 6, "last": 6},
        {"op": "drain"},
    ], fw_build, tmp_path)
    assert out[0] == [0, 0] and out[1] == 5 and out[2] == 3
    assert out[3] == [5, 3] and out[4] == 2
    assert out[5] == [["r", 4, True], ["r", 5, True]]
    assert out[6] == [5, 5] and out[8] == [["r", 6, True]]


def test_overflow_becomes_one_explicit_gap(fw_build: Path, tmp_path: Path) -> None:
    out = _ops([
        {"op": "open", "slots": 8},
        {"op": "append", "first": 1, "last": 20},
        {"op": "pending"},
        {"op": "drain"},
    ], fw_build, tmp_path)
    assert out[2] == 20
    assert out[3] == [["gap", 1, 12]] + [["r", s, True] for s in range(13, 21)]


def test_torn_slots_are_reported_not_replayed(fw_build: Path, tmp_path: Path) -> None:
    out = _ops([
        {"op": "open", "slots": 8},
        {"op": "append", "first": 1, "last": 6},
        {"op": "corrupt", "seq": 3, "slots": 8},
        {"op": "corrupt", "seq": 4, "slots": 8, "offset": 5},  # inside the header
        {"op": "corrupt", "seq": 6, "slots": 8, "offset": 60},  # newest record, in its sig
        {"op": "open", "slots": 8},
        {"op": "drain"},
        {"op": "append", "first": 6, "last": 7},
        {"op": "drain"},
    ], fw_build, tmp_path)
    # The torn newest slot is lost and its seq reused; older torn slots are a gap.
    assert out[5] == [5, 0]
    assert out[6] == [["r", 1, True], ["r", 2, True], ["gap", 3, 4], ["r", 5, True]]
    assert out[8] == [["r", 6, True], ["r", 7, True]]


def test_sequence_never_goes_backwards(fw_build: Path, tmp_path: Path) -> None:
    out = _ops([
        {"op": "open", "slots": 8},
        {"op": "append", "first": 1, "last": 10},
        {"op": "drain"},
        {"op": "remove"},  # ring file lost; the ack file still says 10
        {"op": "open", "slots": 8},
        {"op": "append", "first": 10, "last": 10},
        {"op": "append", "first": 11, "last": 11},
        {"op": "append", "first": 13, "last": 13},
        {"op": "append_raw", "seq": 12, "n": 431},
        {"op": "append_raw", "seq": 12, "n": 430},
        {"op": "ack", "seq": 99},
    ], fw_build, tmp_path)
    assert out[4] == [10, 10]
    assert out[5] == {"error": "out_of_order"} and out[6] == 11
    assert out[7] == {"error": "out_of_order"}
    assert out[8] == {"error": "payload_too_large"} and out[9] == 12
    assert out[10] == {"error": "out_of_order"}


def test_corrupt_ack_file_means_resend_not_skip(fw_build: Path, tmp_path: Path) -> None:
    out = _ops([
        {"op": "open", "slots": 8},
        {"op": "append", "first": 1, "last": 3},
        {"op": "ack", "seq": 2},
        {"op": "write_ack_file", "hex": "00000000000000020000"},
        {"op": "open", "slots": 8},
        {"op": "drain"},
    ], fw_build, tmp_path)
    assert out[4] == [3, 0]
    assert out[5] == [["r", 1, True], ["r", 2, True], ["r", 3, True]]
