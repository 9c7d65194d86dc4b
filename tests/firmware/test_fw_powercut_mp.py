"""Power cut mid-write: the firmware's ring writer (real signer, flash-like
paged writes) is SIGKILLed at random moments, again and again, and every
other time (once the ring has wrapped) exactly inside a slot write. After every
cut the ring must hold every pending reading intact and correctly signed,
except at most the one being written (and the oldest one its slot held),
and the sequence must continue without reuse of a stored number."""

from __future__ import annotations

import json
import random
import select
import time
from pathlib import Path

import nacl.signing

from tests.support.micropython import MpProcess, run_mp, start_mp

MP_DIR = Path(__file__).parent / "mp"
SLOTS = 16
CUTS = 16


def _check(fw_build: Path, env: dict[str, str]) -> tuple[int, int, dict[int, object], list]:
    res = run_mp("import ring_check\n", path=[Path(""), MP_DIR], cwd=fw_build,
                 env={**env, "GTX_CASES": ""}).check()
    rows = res.json_lines("R ")
    last_seq, acked = rows[0]
    assert rows[-1][0] == "slots"
    return last_seq, acked, {seq: rec for seq, rec in rows[1:-1]}, rows[-1][1]


def _wait_for_tear(proc: MpProcess, timeout_s: float = 60) -> str:
    """Read the writer's stdout until it stalls inside a write ("T"); the lines read."""
    stream = proc.popen.stdout
    assert stream is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if line.strip() == "T":
            return "".join(seen)
    raise AssertionError("the writer never reached its tear point\n" + "".join(seen))


def test_kill_mid_write_loses_at_most_the_reading_being_written(fw_build: Path, tmp_path: Path) -> None:
    env = {"GTX_RING": str(tmp_path / "ring.bin"), "GTX_SLOTS": str(SLOTS)}
    verify_key = nacl.signing.SigningKey(bytes(range(32))).verify_key
    rnd = random.Random(7)
    prev_last = 0
    torn_seen = 0
    for cut in range(CUTS):
        tear = cut % 2 == 1 and prev_last >= SLOTS
        run_env = {**env, "GTX_TEAR_PAGE": str(rnd.randint(1, 12))} if tear else env
        with start_mp("import ring_writer\n", path=[Path(""), MP_DIR], cwd=fw_build, env=run_env) as proc:
            head = ""
            if tear:
                head = _wait_for_tear(proc)
            else:
                time.sleep(rnd.uniform(0.2, 0.8))
            proc.kill()
            out = proc.wait(10)
        stdout = head + out.stdout
        assert "Traceback" not in stdout, stdout
        opened = [ln for ln in stdout.splitlines() if ln.startswith("O ")]
        written = [int(ln[2:]) for ln in stdout.splitlines() if ln.startswith("W ")]
        acks = [int(ln[2:]) for ln in stdout.splitlines() if ln.startswith("A ")]
        # No "O" line: the cut came while the ring file was being pre-allocated.
        start_last = int(opened[0].split()[1]) if opened else prev_last
        assert start_last >= prev_last  # the sequence never goes backwards across cuts
        last_written = written[-1] if written else start_last

        last_seq, acked, pending, slots = _check(fw_build, env)
        if last_seq >= SLOTS:
            # Once every slot has been written, an invalid slot is a torn write;
            # there is never more than the one that was being written.
            invalid = [i for i, seq in enumerate(slots) if seq is None]
            assert len(invalid) <= 1, slots
            if invalid:
                assert invalid == [(last_seq + 1) % SLOTS]
                torn_seen += 1
            elif tear:
                raise AssertionError(f"a cut inside a slot write left no torn slot: {slots}")
        # Only the reading in flight can be lost; it may also have completed.
        assert last_seq in (last_written, last_written + 1)
        assert acked >= (acks[-1] if acks else 0) and acked <= last_seq
        window = range(max(acked + 1, last_seq - SLOTS + 1), last_seq + 1)
        for seq in window:
            rec = pending[seq]
            if rec is None:
                # The slot of the torn write held the oldest reading of the window.
                assert seq == last_seq + 1 - SLOTS, (seq, last_seq)
                continue
            payload, sig_hex = rec
            reading = json.loads(payload)
            assert reading["seq"] == seq and reading["imp_wh"] == seq * 10
            verify_key.verify(payload.encode(), bytes.fromhex(sig_hex))
        prev_last = last_seq
    assert prev_last > SLOTS  # the ring wrapped during the test
    print("torn writes seen:", torn_seen)
    assert torn_seen >= 1  # some cuts really landed inside a slot write
