"""The embedded chain: the durable node (:mod:`aggregator.chain.node_server`) as a child
process over a data directory, reached through the same JSON-RPC client as a cluster.

:func:`embedded_node` connects to a node already serving that data directory on the port
(one left running by an aggregator that was killed, say), or starts one. A node on the
port that serves another chain (another genesis) stops the start with a clear error, and
the node itself refuses a data directory another node holds (a lock file).
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from solders.hash import Hash
from solders.pubkey import Pubkey

from aggregator.chain.errors import ChainSetupError
from aggregator.chain.node import STORE_FILE

ROOT = Path(__file__).resolve().parents[2]


def _rpc(url: str, method: str) -> object:
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method}, timeout=2).json().get("result")


def _stored_genesis(data_dir: Path) -> str | None:
    path = data_dir / STORE_FILE
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'genesis_seed'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return None if row is None else str(Hash(bytes.fromhex(row[0])))


def _answering(url: str) -> bool:
    try:
        return _rpc(url, "getHealth") == "ok"
    except (httpx.TransportError, ValueError):
        return False


@contextlib.contextmanager
def embedded_node(data_dir: Path, port: int, upgrade_authority: Pubkey, *, host: str = "127.0.0.1",
                  timeout_s: float = 60.0, log: Path | None = None) -> Iterator[str]:
    """The URL of the node over `data_dir` on `port`; a node started here is stopped on exit."""
    url = f"http://{host}:{port}"
    if _answering(url):
        genesis = _stored_genesis(data_dir)
        served = _rpc(url, "getGenesisHash")
        if genesis is None or served != genesis:
            raise ChainSetupError(f"{url} serves another chain (genesis {served}), not the one in {data_dir}: "
                                  f"stop it or set GTX_CHAIN_NODE_PORT")
        print(f"chain: connected to the node already serving {data_dir} at {url}", file=sys.stderr)
        yield url
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(log or data_dir / "node.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator.chain.node_server", "--host", host, "--port", str(port),
         "--data-dir", str(data_dir), "--upgrade-authority", str(upgrade_authority)],
        cwd=ROOT, stdout=log_file, stderr=log_file, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not _answering(url):
            if proc.poll() is not None:
                tail = (data_dir / "node.log").read_text(errors="replace")[-2000:] if log is None else ""
                raise ChainSetupError(f"the chain node exited with {proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise ChainSetupError(f"the chain node did not answer at {url} within {timeout_s} s")
            time.sleep(0.1)
        print(f"chain: started the node over {data_dir} at {url} (pid {proc.pid})", file=sys.stderr)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()
