"""Adapters for the MicroPython unix port (tests, and Linux boxes with a
USB RS-485 dongle): a tty as the UART, the system clock, os.urandom.
"""

import os
import sys
import termios
import time

_VTIME = 5
_VMIN = 6


class TtyUart:
    """A serial device or pty in raw, non-blocking-read mode.

    VMIN=0/VTIME=0 makes a read return what has arrived so far (possibly
    nothing) instead of waiting to fill the buffer; no baud emulation on a pty.
    """

    def __init__(self, path):
        self._f = open(path, "r+b")
        fd = self._f.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self._buf = bytearray(256)

    def write(self, data):
        return self._f.write(data)

    def read(self, n):
        mv = memoryview(self._buf)[: min(n, len(self._buf))]
        got = self._f.readinto(mv)
        return bytes(mv[:got]) if got else None

    def close(self):
        self._f.close()


def uart(meter_cfg, model):
    """The meter's serial port from ``meter.device`` (a path on this port)."""
    if not meter_cfg.device:
        raise OSError("meter.device must name a tty on the unix port")
    return TtyUart(meter_cfg.device)


class Clock:
    """System time; treated as valid once it is past 2024-01-01 (an unset
    clock on a Linux board reads 1970)."""

    VALID_AFTER = 1704067200

    def now(self):
        t = int(time.time())
        return (t, True) if t >= self.VALID_AFTER else (0, False)

    def sync(self, host):
        # The host OS keeps time (chrony/systemd-timesyncd); just report it.
        return self.now()[1]


def rng(n):
    return os.urandom(n)


class Watchdog:
    """Software watchdog: a feed that comes too late ends the process (exit
    code 75), which is what a hardware WDT reset looks like from outside."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self._last = time.ticks_ms()

    def feed(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self._last) > self.timeout_ms:
            print("watchdog: not fed for %d ms, resetting" % time.ticks_diff(now, self._last))
            sys.exit(75)
        self._last = now


class Led:
    """Status "LED": state changes are printed."""

    def __init__(self, pin):
        self.state = None

    def set(self, state):
        if state != self.state:
            self.state = state
            print("status:", state)


class Network:
    """The host's network is managed by the OS."""

    def __init__(self, wifi_cfg):
        self.wifi = wifi_cfg

    def ready(self):
        return True


def data_root():
    return os.getenv("GTX_DATA_DIR") or "./"
