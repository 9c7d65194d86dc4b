"""pytest plugin with the shared server fixtures.

Enable it from tests/conftest.py::

    pytest_plugins = ["tests.support.fixtures"]

Fixtures:
    mosquitto          a running MosquittoBroker (function scope); the test may
                       stop()/start() it on the same port to simulate an outage
    mosquitto_factory  callable returning further brokers, all torn down at the end
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import MosquittoBroker


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MosquittoBroker]]:
    brokers: list[MosquittoBroker] = []

    def make(*, persistence: bool = True, port: int | None = None,
             allow_anonymous: bool = True) -> MosquittoBroker:
        workdir: Path = tmp_path_factory.mktemp("mosquitto")
        broker = MosquittoBroker(workdir, port, persistence=persistence,
                                 allow_anonymous=allow_anonymous)
        broker.start()
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return mosquitto_factory()
