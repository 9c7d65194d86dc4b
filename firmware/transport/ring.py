"""Bounded store-and-forward ring of signed readings on flash.

Layout: one pre-allocated file of ``slots`` fixed-size slots. The reading
with sequence number ``seq`` always lives in slot ``seq % slots``, so there
are no head/tail pointers to keep consistent: writing a new reading
overwrites the reading ``slots`` places older, which is what "bounded"
means here. Each slot carries its seq and a CRC-32, so a slot torn by a power
cut mid-write is simply invalid afterwards.

A second tiny file records the highest acknowledged seq. It is replaced
atomically (write temp, rename), only after the broker's PUBACK.

What survives what:
- Power cut while writing slot s: reading s is lost (it was never sent; s is
  reused for the next reading); the slot's previous content, reading s-slots,
  was either acknowledged already or overwritten by design.
- Outage longer than the ring: the oldest unsent readings are overwritten;
  ``pending()`` reports them as a missing run so the uplink sends an explicit
  gap record (docs/envelope.md) instead of skipping silently.
- The persisted sequence number is max(newest valid slot, acknowledged seq):
  it never goes backwards, so a seq is never reused for a delivered record.
"""

import os
import struct
from binascii import crc32

from micropython import const

_MAGIC = b"GR"
_FORMAT = const(1)
_HEAD = ">2sBBQHI"  # magic, format, flags, seq, payload length, crc32
_HEAD_BYTES = const(18)
_SIG_BYTES = const(64)
SLOT_BYTES = const(512)
MAX_PAYLOAD_BYTES = const(430)  # SLOT_BYTES - _HEAD_BYTES - _SIG_BYTES
_ACK = ">QI"  # acknowledged seq, crc32 of the 8 seq bytes


class RingError(Exception):
    """Misuse of the ring; reason: out_of_order, payload_too_large, bad_geometry."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


def _crc(seq_bytes, payload, sig):
    return crc32(sig, crc32(payload, crc32(seq_bytes)))


class Ring:
    """The ring at ``path`` (+ ``path + '.ack'``); ``opener`` is ``open``-like.

    Tests pass an opener whose file writes in small, slow chunks, the way flash
    is programmed, so a killed process really leaves torn slots behind.
    """

    def __init__(self, path, slots, opener=open):
        if slots < 2:
            raise RingError("bad_geometry", "slots %d" % slots)
        self.path = path
        self.ack_path = path + ".ack"
        self.slots = slots
        self._opener = opener
        self._buf = bytearray(SLOT_BYTES)
        self._file = self._open_file()
        self.acked = self._load_ack()
        newest = self._scan()
        self.last_seq = newest if newest > self.acked else self.acked

    # ---------------------------------------------------------------- files

    def _open_file(self):
        size = self.slots * SLOT_BYTES
        try:
            have = os.stat(self.path)[6]
        except OSError:
            have = -1
        if have < 0:
            f = self._opener(self.path, "wb")
            f.close()
            have = 0
        f = self._opener(self.path, "r+b")
        if have < size:
            # Pre-allocate (also completes an allocation cut short by a power loss).
            f.seek(have)
            zero = bytes(SLOT_BYTES)
            while have < size:
                n = min(SLOT_BYTES - have % SLOT_BYTES, size - have)
                f.write(zero[:n])
                have += n
            f.flush()
        return f

    def _load_ack(self):
        try:
            with open(self.ack_path, "rb") as f:
                blob = f.read()
        except OSError:
            return 0
        if len(blob) != 12:
            return 0
        seq, crc = struct.unpack(_ACK, blob)
        if crc32(blob[:8]) != crc:
            return 0
        return seq

    def close(self):
        """Close the slot file; the ring object is unusable afterwards."""
        if self._file is not None:
            self._file.close()
            self._file = None

    # ---------------------------------------------------------------- slots

    def _read_slot(self, index):
        """(seq, payload memoryview, sig memoryview) of a valid slot, else None."""
        buf = self._buf
        self._file.seek(index * SLOT_BYTES)
        n = self._file.readinto(buf)
        if n != SLOT_BYTES:
            return None
        magic, fmt, _, seq, plen, crc = struct.unpack_from(_HEAD, buf, 0)
        if magic != _MAGIC or fmt != _FORMAT or plen > MAX_PAYLOAD_BYTES or seq == 0:
            return None
        mv = memoryview(buf)
        payload = mv[_HEAD_BYTES : _HEAD_BYTES + plen]
        sig = mv[_HEAD_BYTES + plen : _HEAD_BYTES + plen + _SIG_BYTES]
        if _crc(mv[4:12], payload, sig) != crc:
            return None
        return seq, payload, sig

    def _scan(self):
        newest = 0
        for i in range(self.slots):
            rec = self._read_slot(i)
            if rec is not None and rec[0] > newest:
                newest = rec[0]
        return newest

    def get(self, seq):
        """(payload, sig) bytes for ``seq`` if still stored intact, else None."""
        rec = self._read_slot(seq % self.slots)
        if rec is None or rec[0] != seq:
            return None
        return bytes(rec[1]), bytes(rec[2])

    def append(self, seq, payload, sig):
        """Store the signed reading ``seq`` (must be ``last_seq + 1``) durably."""
        if seq != self.last_seq + 1:
            raise RingError("out_of_order", "seq %d after %d" % (seq, self.last_seq))
        if len(payload) > MAX_PAYLOAD_BYTES or len(sig) != _SIG_BYTES:
            raise RingError("payload_too_large", "%d bytes" % len(payload))
        buf = self._buf
        plen = len(payload)
        end = _HEAD_BYTES + plen + _SIG_BYTES
        buf[_HEAD_BYTES : _HEAD_BYTES + plen] = payload
        buf[_HEAD_BYTES + plen : end] = sig
        buf[end:] = bytes(SLOT_BYTES - end)
        struct.pack_into(_HEAD, buf, 0, _MAGIC, _FORMAT, 0, seq, plen, 0)
        mv = memoryview(buf)
        crc = _crc(mv[4:12], mv[_HEAD_BYTES : _HEAD_BYTES + plen], sig)
        struct.pack_into(">I", buf, 14, crc)
        self._file.seek((seq % self.slots) * SLOT_BYTES)
        self._file.write(buf)
        self._file.flush()
        self.last_seq = seq

    # ---------------------------------------------------------------- delivery

    def pending_count(self):
        """How many sequence numbers are not yet acknowledged."""
        return self.last_seq - self.acked

    def next_pending(self):
        """The oldest unacknowledged record, or None when all are acknowledged.

        Returns ("reading", seq, payload, sig) or ("gap", from_seq, to_seq):
        a run of sequence numbers whose slots were overwritten or torn.
        """
        seq = self.acked + 1
        if seq > self.last_seq:
            return None
        # Anything older than the ring's reach is gone without reading flash.
        reach = self.last_seq - self.slots + 1
        if seq < reach:
            end = reach - 1
        else:
            rec = self.get(seq)
            if rec is not None:
                return ("reading", seq, rec[0], rec[1])
            end = seq
        while end < self.last_seq and self.get(end + 1) is None:
            end += 1
        return ("gap", seq, end)

    def ack(self, seq):
        """Mark everything up to ``seq`` delivered (atomically persisted)."""
        if seq <= self.acked:
            return
        if seq > self.last_seq:
            raise RingError("out_of_order", "ack %d beyond %d" % (seq, self.last_seq))
        seq_bytes = struct.pack(">Q", seq)
        tmp = self.ack_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(seq_bytes + struct.pack(">I", crc32(seq_bytes)))
        os.rename(tmp, self.ack_path)
        self.acked = seq
