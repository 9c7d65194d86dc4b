# A file opener whose writes reach the file in 32-byte pages, 2 ms apart, the
# way flash is programmed: a process killed mid-append leaves a torn slot.
#
# With GTX_TEAR_PAGE=k the k-th page boundary among the first four pages of a
# write (where a slot's header, payload and signature lie, never only padding)
# prints "T" and stalls there, so a test can deliver its SIGKILL mid-write.
import os
import time

PAGE = 32
_tear = int(os.getenv("GTX_TEAR_PAGE") or 0)
_boundaries = 0


class SlowFile:
    def __init__(self, f):
        self._f = f

    def write(self, data):
        global _boundaries
        mv = memoryview(data)
        for off in range(0, len(mv), PAGE):
            self._f.write(mv[off : off + PAGE])
            self._f.flush()
            if _tear and off + PAGE < min(len(mv), 4 * PAGE):
                _boundaries += 1
                if _boundaries == _tear:
                    print("T")
                    time.sleep(60)
            time.sleep_ms(2)
        return len(mv)

    def seek(self, pos):
        return self._f.seek(pos)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def flush(self):
        return self._f.flush()

    def close(self):
        return self._f.close()


def slow_open(path, mode):
    return SlowFile(open(path, mode))
