"""Fixtures: gateway processes and upstream collectors, all stopped at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.edge_gateway.gw_helpers import GatewayProc, new_gateway
from tests.support.firmware import EnvelopeCollector
from devservers.mosquitto import MosquittoBroker


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., GatewayProc]]:
    """``make(local, upstream, ca_cert=None, extra="")`` -> a configured, not started gateway."""
    made: list[GatewayProc] = []

    def make(local: MosquittoBroker, upstream: MosquittoBroker, *, ca_cert: Path | None = None,
             extra: str = "") -> GatewayProc:
        gw = new_gateway(tmp_path / f"gw{len(made)}", local, upstream, ca_cert=ca_cert, extra=extra)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        if gw.proc is not None:
            gw.terminate()


@pytest.fixture
def collector_factory() -> Iterator[Callable[..., EnvelopeCollector]]:
    """Persistent-session subscribers on the upstream broker (stand-ins for the aggregator)."""
    made: list[EnvelopeCollector] = []

    def make(broker: MosquittoBroker, ca_cert: Path | None = None) -> EnvelopeCollector:
        c = EnvelopeCollector(broker.host, broker.port, client_id=f"gtx-test-upstream-{len(made)}", ca_cert=ca_cert)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
