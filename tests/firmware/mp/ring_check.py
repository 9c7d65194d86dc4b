# Report a ring's state after a crash without changing it: last seq, acked
# seq, and for every pending seq the stored payload and signature (or None).
import os
from binascii import hexlify

from harness import result
from transport.ring import Ring

ring = Ring(os.getenv("GTX_RING"), int(os.getenv("GTX_SLOTS")))
result([ring.last_seq, ring.acked])
for seq in range(max(ring.acked + 1, 1), ring.last_seq + 1):
    rec = ring.get(seq)
    result([seq, None if rec is None else [rec[0].decode(), hexlify(rec[1]).decode()]])
# Slot by slot: the seq each slot holds, or None for a torn/empty slot.
result(["slots", [None if r is None else r[0] for r in (ring._read_slot(i) for i in range(ring.slots))]])
