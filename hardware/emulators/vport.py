"""A virtual RS-485 line: a socat pty pair, one end for the meter, one for the client.

``socat -d -d pty,raw,echo=0,link=meter pty,raw,echo=0,link=client`` creates two
raw pseudo-terminals and copies bytes between them. The client end is a plain raw pty,
so anything that opens a serial port (pyserial, MicroPython ``termios``) works on it.

Two details make it robust:

- readiness is detected from socat's own log line ("starting data transfer loop"),
  polled from a log file (no fixed sleeps, no pipe that could fill up);
- the pair keeps its own descriptor open on the client end. Without it, socat sees
  end-of-file when a client closes the port and exits, so a second client (a firmware
  restart, a reconnecting test) would find the port gone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import termios
import time
from pathlib import Path

from hardware.errors import VirtualPortError

READY_MARK = "starting data transfer loop"

#: termios speed constant -> baud, for the rates Modbus meters use.
_SPEEDS = {getattr(termios, f"B{b}"): b for b in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)}


class VirtualSerialPair:
    """Owns one socat process and its two pty links; ``start`` / ``stop`` or ``async with``."""

    def __init__(self, link_dir: str | os.PathLike[str] | None = None, name: str = "meter") -> None:
        self._own_dir = link_dir is None
        self.dir = Path(link_dir) if link_dir else Path(tempfile.mkdtemp(prefix="gtx-pty-"))
        self.meter_path = self.dir / f"{name}-meter"
        self.client_path = self.dir / f"{name}"
        self._log = self.dir / f"{name}.socat.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._hold_fd: int | None = None

    async def start(self, timeout_s: float = 5.0) -> VirtualSerialPair:
        """Start socat and wait until both ptys exist and data flows."""
        socat = shutil.which("socat")
        if socat is None:
            raise VirtualPortError("socat_missing", "install socat (scripts/setup.sh does)")
        for link in (self.meter_path, self.client_path):
            if link.exists() or link.is_symlink():
                raise VirtualPortError("link_exists", f"{link} already exists")
        with open(self._log, "wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                socat, "-d", "-d",
                f"pty,raw,echo=0,link={self.meter_path}",
                f"pty,raw,echo=0,link={self.client_path}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout_s
        while READY_MARK not in self._log.read_text(errors="replace"):
            if self._proc.returncode is not None:
                raise VirtualPortError("socat_exited", self._log.read_text(errors="replace"))
            if time.monotonic() > deadline:
                await self.stop()
                raise VirtualPortError("socat_timeout", f"socat not ready after {timeout_s} s")
            await asyncio.sleep(0.01)
        self._hold_fd = os.open(self.client_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        return self

    async def exchange(self, frame: bytes, expect_len: int, timeout_s: float = 5.0) -> bytes:
        """Write ``frame`` on the client end and read ``expect_len`` bytes back.

        Used once at start-up as a health check (a real request answered by the
        meter) before the port is handed to anyone else.
        """
        if self._hold_fd is None:
            raise VirtualPortError("not_started", "start the pair first")
        os.write(self._hold_fd, frame)
        got = b""
        deadline = time.monotonic() + timeout_s
        while len(got) < expect_len:
            if time.monotonic() > deadline:
                raise VirtualPortError("no_answer", f"got {got!r} of {expect_len} bytes")
            try:
                got += os.read(self._hold_fd, expect_len - len(got))
            except BlockingIOError:
                await asyncio.sleep(0.002)
        return got

    def set_client_baud(self, baud: int) -> None:
        """Preset the client end's speed (a client that sets its own overrides it)."""
        if self._hold_fd is None:
            raise VirtualPortError("not_started", "start the pair first")
        speed = {b: s for s, b in _SPEEDS.items()}.get(baud)
        if speed is None:
            raise VirtualPortError("bad_baud", f"unsupported baud {baud}")
        attrs = termios.tcgetattr(self._hold_fd)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self._hold_fd, termios.TCSANOW, attrs)

    def client_baud(self) -> int:
        """Baud rate the client configured on its end (0 if not a standard rate).

        termios settings belong to the tty, so they are visible through our own
        descriptor on the client end. (Linux ptys force 8 data bits and no parity,
        so only the speed is meaningful here.)
        """
        if self._hold_fd is None:
            raise VirtualPortError("not_started", "start the pair first")
        return _SPEEDS.get(termios.tcgetattr(self._hold_fd)[5], 0)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def stop(self) -> None:
        """Stop socat, close the hold descriptor, remove links and the temp dir."""
        if self._hold_fd is not None:
            os.close(self._hold_fd)
            self._hold_fd = None
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), timeout=5.0)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self._proc = None
        for path in (self.meter_path, self.client_path, self._log):
            if path.is_symlink() or path.exists():
                path.unlink()
        if self._own_dir and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    async def __aenter__(self) -> VirtualSerialPair:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
