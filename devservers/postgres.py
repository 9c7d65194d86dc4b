"""A throw-away embedded PostgreSQL for tests, benches and the demo.

The server is :class:`aggregator.db.embedded.EmbeddedPostgres` (the one launcher); this
adds the scratch data directory and its removal. The directory is made with
:func:`tempfile.mkdtemp`, not under pytest's ``tmp_path``: every pytest session on the
machine resets ``/tmp/pytest-of-<user>`` to mode 0700, which would lock the
unprivileged server user out of its data directory in the middle of a run.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from aggregator.db.embedded import EmbeddedPostgres


@contextlib.contextmanager
def scratch_postgres(prefix: str = "gtx-pg-", data_dir: Path | None = None) -> Iterator[EmbeddedPostgres]:
    """A started server in a fresh directory (or ``data_dir``); destroyed on exit."""
    workdir = None if data_dir is not None else Path(tempfile.mkdtemp(prefix=prefix))
    server = EmbeddedPostgres(data_dir if data_dir is not None else workdir / "data")  # type: ignore[operator]
    try:
        server.start()
        yield server
    finally:
        server.destroy()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
