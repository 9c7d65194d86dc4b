"""pytest plugin with the shared server fixtures.

Enable it from tests/conftest.py::

    pytest_plugins = ["tests.support.fixtures"]

Fixtures:
    mosquitto          a running MosquittoBroker (function scope); the test may
                       stop()/start() it on the same port to simulate an outage
    mosquitto_factory  callable returning further brokers, all torn down at the end
                       (options: persistence, port, allow_anonymous, tls=test_pki)
    test_pki           session CA and broker certificate for TLS listeners
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devservers.mosquitto import MosquittoBroker
from tests.support.tls import Pki, make_pki


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MosquittoBroker]]:
    brokers: list[MosquittoBroker] = []

    def make(*, persistence: bool = True, port: int | None = None,
             allow_anonymous: bool = True, tls: Pki | None = None) -> MosquittoBroker:
        workdir: Path = tmp_path_factory.mktemp("mosquitto")
        broker = MosquittoBroker(workdir, port, persistence=persistence,
                                 allow_anonymous=allow_anonymous, tls=tls)
        broker.start()
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA + broker certificate for 127.0.0.1 (tests.support.tls)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return mosquitto_factory()
