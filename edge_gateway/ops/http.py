"""A tiny HTTP/1.0 server for ``GET /metrics`` (Prometheus text) and ``GET /healthz`` (JSON).

Two read-only endpoints do not need a web framework; an asyncio stream server keeps
the gateway's footprint small on a Raspberry Pi. ``/healthz`` answers 200 when both
brokers are connected and the outbox is not full, 503 otherwise (the body says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from prometheus_client import CONTENT_TYPE_LATEST

from edge_gateway.ops.metrics import Telemetry

__all__ = ["serve_ops"]

_REQUEST_TIMEOUT_S = 5.0


async def serve_ops(host: str, port: int, telemetry: Telemetry) -> asyncio.Server:
    """Start listening; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), _REQUEST_TIMEOUT_S)
            # Headers are read and ignored: both endpoints take no input.
            while await asyncio.wait_for(reader.readline(), _REQUEST_TIMEOUT_S) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?", 1)[0]) if len(parts) >= 2 else ("", "")
            if method != "GET":
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path == "/metrics":
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, telemetry.prometheus()
            elif path == "/healthz":
                status = "200 OK" if telemetry.healthy else "503 Service Unavailable"
                ctype, body = "application/json", json.dumps(telemetry.health()).encode() + b"\n"
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"try /metrics or /healthz\n"
            writer.write(
                f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass  # a slow or broken scraper is its own problem
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
