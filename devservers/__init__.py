"""Real servers for development: the demo, the benchmarks and the tests start them here.

Public front door:

* :func:`free_tcp_port`, :func:`wait_until`, :func:`wait_until_async`, :class:`NotReady`
  (``ports.py``): a loopback port, and polling until something answers.
* :func:`scratch_postgres` (``postgres.py``): a throw-away embedded PostgreSQL.
* :class:`MosquittoBroker`, :func:`mqtt_ping` (``mosquitto.py``): a real broker on a free
  port, restartable on the same port with its persistence.
* :class:`AggregatorProcess`, :class:`LocalnetProcess` (``processes.py``): ``python -m
  aggregator serve`` and ``python -m tools.localnet`` as child processes, health-checked.

The aggregator itself starts its embedded PostgreSQL through
``aggregator.db.embedded.database`` (production code never imports this package).
"""

from devservers.mosquitto import DURABLE_PERSISTENCE, BrokerTls, MosquittoBroker, MosquittoError, mqtt_ping
from devservers.ports import NotReady, free_tcp_port, wait_until, wait_until_async
from devservers.postgres import scratch_postgres
from devservers.processes import AggregatorProcess, LocalnetProcess, ServerProcess

__all__ = [
    "DURABLE_PERSISTENCE", "AggregatorProcess", "BrokerTls", "LocalnetProcess", "MosquittoBroker", "MosquittoError",
    "NotReady", "ServerProcess", "free_tcp_port", "mqtt_ping", "scratch_postgres", "wait_until", "wait_until_async",
]
