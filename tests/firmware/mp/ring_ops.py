# Drive transport/ring.py with a list of operations; one result per operation.
import os

from harness import cases, result
from transport.ring import SLOT_BYTES, Ring, RingError

ring = None
path = os.getenv("GTX_RING")


def payload(seq, n):
    return (b"p%d-" % seq) * n


for c in cases():
    op = c["op"]
    try:
        if op == "open":
            if ring is not None:
                ring.close()
            ring = Ring(path, c["slots"])
            result([ring.last_seq, ring.acked])
        elif op == "append":
            for seq in range(c["first"], c["last"] + 1):
                ring.append(seq, payload(seq, c.get("n", 4)), bytes([seq & 0xFF]) * 64)
            result(ring.last_seq)
        elif op == "drain":
            # Deliver everything pending, acknowledging as the uplink would.
            out = []
            rec = ring.next_pending()
            while rec is not None:
                if rec[0] == "reading":
                    ok = rec[2] == payload(rec[1], c.get("n", 4)) and rec[3] == bytes([rec[1] & 0xFF]) * 64
                    out.append(["r", rec[1], ok])
                    ring.ack(rec[1])
                else:
                    out.append(["gap", rec[1], rec[2]])
                    ring.ack(rec[2])
                rec = ring.next_pending()
            result(out)
        elif op == "ack":
            ring.ack(c["seq"])
            result(ring.acked)
        elif op == "pending":
            result(ring.pending_count())
        elif op == "corrupt":
            # Flip one byte inside the slot that holds seq (a torn write).
            with open(path, "r+b") as f:
                f.seek((c["seq"] % c["slots"]) * SLOT_BYTES + c.get("offset", 30))
                b = f.read(1)
                f.seek((c["seq"] % c["slots"]) * SLOT_BYTES + c.get("offset", 30))
                f.write(bytes([b[0] ^ 0xFF]))
            result("ok")
        elif op == "remove":
            if ring is not None:
                ring.close()
                ring = None
            os.remove(path + c.get("suffix", ""))
            result("ok")
        elif op == "write_ack_file":
            with open(path + ".ack", "wb") as f:
                f.write(bytes.fromhex(c["hex"]))
            result("ok")
        elif op == "append_raw":
            ring.append(c["seq"], b"x" * c["n"], bytes(64))
            result(ring.last_seq)
    except RingError as exc:
        result({"error": exc.reason})
