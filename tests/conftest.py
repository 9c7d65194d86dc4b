"""Root pytest configuration: shared fixture plugins.

`python -m aggregator serve` keeps its data under the per-user data directory and runs the
embedded chain node on port 8899 by default. Server processes a test starts without naming
their own get this session's private data directory and node port instead, so a test run
writes nothing into the home directory and concurrent runs never share a lock or a port.
"""

import atexit
import os
import shutil
import signal
import tempfile

from devservers.ports import free_tcp_port

pytest_plugins = ["tests.support.fixtures"]



def _stop_session_node(data_dir: str) -> None:
    """A chain node outlives an aggregator killed with SIGKILL (by design); end it with the session."""
    lock = os.path.join(data_dir, "chain", "node.lock")
    try:
        with open(lock) as f:
            pid = int(f.read().strip() or 0)
        if pid:
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    shutil.rmtree(data_dir, True)


if "GTX_DATA_DIR" not in os.environ:
    _SESSION_DATA_DIR = tempfile.mkdtemp(prefix="gtx-test-data-")
    os.environ["GTX_DATA_DIR"] = _SESSION_DATA_DIR
    atexit.register(_stop_session_node, _SESSION_DATA_DIR)
os.environ.setdefault("GTX_CHAIN_NODE_PORT", str(free_tcp_port()))
