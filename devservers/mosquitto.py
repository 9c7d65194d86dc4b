"""A real mosquitto broker on a free loopback port, for the demo, tests and benches.

Runs the Debian ``mosquitto`` binary that scripts/setup.sh installs (or
``$GTX_MOSQUITTO``) with a generated config in a work directory. The broker
can be stopped and started again on the same port with its persistence
directory intact, which is what outage tests need: clients see the broker
vanish and come back at the same address.

Readiness is checked with a real MQTT CONNECT/CONNACK exchange (polled), not
by sleeping.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Protocol

from devservers.ports import free_tcp_port

__all__ = ["DURABLE_PERSISTENCE", "BrokerTls", "MosquittoBroker", "MosquittoError", "mqtt_ping"]

MOSQUITTO_BIN = os.environ.get("GTX_MOSQUITTO", "/usr/sbin/mosquitto")


#: Persistence settings under which QoS 1 messages a broker acknowledged survive a
#: SIGKILL or power cut. With only ``persistence true`` mosquitto writes its database
#: every 30 minutes and on a clean exit, so a crash loses everything queued since.
#: ``autosave_on_changes true`` turns ``autosave_interval`` into a count of changes
#: (queued messages, retained messages, subscription changes): with 1, the database is
#: rewritten after every change, in the same main-loop pass that handles the PUBLISH.
#: That narrows the loss window to that pass, but mosquitto 2.0 does not make it zero:
#: the PUBACK is written before the save, so a crash in between loses messages that were
#: acknowledged (measured: 1 of 200, in about one run in three, when the SIGKILL
#: follows the last PUBACK at once; none once the broker has served anything after
#: them). Each save rewrites the whole database, so its cost grows with the queue.
#: The pipeline does not depend on it alone: meters keep readings
#: in their flash ring until PUBACK, and the gateway deletes only after the upstream
#: PUBACK and acknowledges locally only after its own fsynced commit.
DURABLE_PERSISTENCE = ("persistence true", "autosave_interval 1", "autosave_on_changes true")


class BrokerTls(Protocol):
    """Certificate files for a TLS listener (e.g. tests.support.tls.Pki)."""

    @property
    def ca_cert(self) -> Path: ...
    @property
    def server_cert(self) -> Path: ...
    @property
    def server_key(self) -> Path: ...


class MosquittoError(RuntimeError):
    """The broker could not be started or did not become ready."""


# MQTT 3.1.1 CONNECT, clean session, keepalive 5 s, client id "gtx-probe".
_PROBE_CONNECT = bytes(
    [0x10, 21, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 5, 0, 9]) + b"gtx-probe"
_DISCONNECT = bytes([0xE0, 0])


def _probe(sock: socket.socket, require_accept: bool) -> bool:
    sock.sendall(_PROBE_CONNECT)
    ack = b""
    while len(ack) < 4:
        chunk = sock.recv(4 - len(ack))
        if not chunk:
            return False
        ack += chunk
    sock.sendall(_DISCONNECT)
    return ack[0] == 0x20 and (ack[3] == 0 or (ack[3] == 5 and not require_accept))


def mqtt_ping(host: str, port: int, timeout_s: float = 0.5, require_accept: bool = True,
              ca_cert: Path | None = None) -> bool:
    """True if an MQTT broker at host:port answers CONNECT with CONNACK rc=0
    (or rc=5 "not authorized" when ``require_accept`` is false); over TLS
    verified against ``ca_cert`` when one is given."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            if ca_cert is None:
                return _probe(raw, require_accept)
            ctx = ssl.create_default_context(cafile=str(ca_cert))
            with ctx.wrap_socket(raw, server_hostname=host) as tls_sock:
                return _probe(tls_sock, require_accept)
    except OSError:
        return False


class MosquittoBroker:
    """One mosquitto process bound to 127.0.0.1:<port>, restartable in place.

    ``workdir`` holds the config, the persistence database and the log; it is
    kept across stop()/start() so persistent sessions survive an outage.
    """

    def __init__(self, workdir: Path, port: int | None = None, *, persistence: bool = True,
                 allow_anonymous: bool = True, tls: BrokerTls | None = None, autosave: bool = True) -> None:
        if not Path(MOSQUITTO_BIN).exists() and shutil.which("mosquitto") is None:
            raise MosquittoError(f"mosquitto not installed ({MOSQUITTO_BIN}); run scripts/setup.sh")
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_tcp_port()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        # False: mosquitto's default persistence (saved every 30 min and on exit only).
        self.autosave = autosave
        # False without a password file: every CONNECT is refused (CONNACK 5).
        self.allow_anonymous = allow_anonymous
        # With a PKI the only listener is TLS (server certificate from ``tls``).
        self.tls = tls
        self.log_path = self.workdir / "mosquitto.log"
        self.conf_path = self.workdir / "mosquitto.conf"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 100000",
        ]
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca_cert}", f"certfile {self.tls.server_cert}",
                      f"keyfile {self.tls.server_key}"]
        if self.persistence:
            lines += [*(DURABLE_PERSISTENCE if self.autosave else ("persistence true",)),
                      f"persistence_location {self.workdir}/"]
        if os.geteuid() == 0:
            # mosquitto drops privileges to "mosquitto" unless told to stay root.
            lines.append("user root")
        self.conf_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 10.0) -> None:
        """Start (or restart) the broker on its port and wait until it answers MQTT."""
        if self.running:
            return
        self._write_conf()
        binary = MOSQUITTO_BIN if Path(MOSQUITTO_BIN).exists() else str(shutil.which("mosquitto"))
        self._proc = subprocess.Popen(
            [binary, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                self._proc = None
                raise MosquittoError(f"mosquitto exited on port {self.port}: {err}{log}")
            ca = self.tls.ca_cert if self.tls is not None else None
            if mqtt_ping(self.host, self.port, require_accept=self.allow_anonymous, ca_cert=ca):
                return
            time.sleep(0.01)
        self.stop()
        raise MosquittoError(f"mosquitto not ready on port {self.port} after {timeout_s} s")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, so persistence is saved); idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """Stop the broker abruptly (SIGKILL), as a crash or power loss would."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MosquittoBroker({self.host}:{self.port}, {state})"


def main(argv: list[str] | None = None) -> int:
    """``python -m devservers.mosquitto``: a standalone durable broker in the foreground.

    Binds 127.0.0.1:``--port`` (default 1883), keeps its persistence (QoS 1 queues,
    sessions) under ``--data-dir`` (default ``<GTX_DATA_DIR>/mosquitto``, the per-user data
    directory ``~/.local/share/gridtokenx/mosquitto``), saved after every change
    (:data:`DURABLE_PERSISTENCE`); SIGTERM or Ctrl-C stops it cleanly."""
    import argparse
    import signal as _signal

    base = os.environ.get("GTX_DATA_DIR") or str(
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "gridtokenx")
    p = argparse.ArgumentParser(prog="python -m devservers.mosquitto", description=main.__doc__)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--data-dir", type=Path, default=Path(base) / "mosquitto")
    args = p.parse_args(argv)
    broker = MosquittoBroker(args.data_dir, args.port)
    broker.start()
    print(f"mosquitto: mqtt://127.0.0.1:{broker.port}, persistence in {args.data_dir} (log {broker.log_path})",
          flush=True)
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    _signal.signal(_signal.SIGTERM, _stop)
    _signal.signal(_signal.SIGINT, _stop)
    try:
        while not stop["now"] and broker.running:
            time.sleep(0.2)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
