# A file opener whose writes reach the file in 32-byte pages, 2 ms apart, the
# way flash is programmed: a process killed mid-append leaves a torn slot.
import time

PAGE = 32


class SlowFile:
    def __init__(self, f):
        self._f = f

    def write(self, data):
        mv = memoryview(data)
        for off in range(0, len(mv), PAGE):
            self._f.write(mv[off : off + PAGE])
            self._f.flush()
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
