# Append signed readings forever (until killed), acknowledging with a lag as
# an uplink would; prints "W <seq>" after each append and "A <seq>" after each
# ack has returned (i.e. is durable).
import os

from signing.ed25519 import Signer
from signing.envelope import reading_payload
from slow_flash import slow_open
from transport.ring import Ring

SEED = bytes(range(32))
signer = Signer(SEED)
ring = Ring(os.getenv("GTX_RING"), int(os.getenv("GTX_SLOTS")), slow_open)
print("O %d %d" % (ring.last_seq, ring.acked))


def values(seq):
    return {"imp_wh": seq * 10, "exp_wh": seq * 3, "v_dv": 2300, "i_ma": seq, "p_w": -seq,
            "pf_milli": 990, "f_chz": 5000}


while True:
    seq = ring.last_seq + 1
    p = reading_payload("mtr-cut", seq, 1763712000 + seq, 1, 60, values(seq), "1.0.0")
    ring.append(seq, p, signer.sign(p))
    print("W %d" % seq)
    if seq % 3 == 0 and seq - 4 > ring.acked:
        ring.ack(seq - 4)
        print("A %d" % (seq - 4))
