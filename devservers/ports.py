"""Free loopback ports and waiting until a server answers (polled, never a fixed sleep)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable


class NotReady(RuntimeError):
    """A server did not become ready in time (or its process exited first)."""


def free_tcp_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float = 60.0, poll_s: float = 0.05) -> None:
    """Poll ``ready`` until it returns true; :class:`NotReady` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise NotReady(f"{what} not ready within {timeout_s:g} s")
        time.sleep(poll_s)


async def wait_until_async(ready: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0,
                           poll_s: float = 0.05) -> None:
    """:func:`wait_until` for an event loop."""
    deadline = time.monotonic() + timeout_s
    while not await ready():
        if time.monotonic() > deadline:
            raise NotReady(f"{what} not ready within {timeout_s:g} s")
        await asyncio.sleep(poll_s)
