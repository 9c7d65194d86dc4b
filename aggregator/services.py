"""The service's typed container: every long-lived object one aggregator process runs.

The lifespan in :mod:`aggregator.app` builds one :class:`Services` at start (the
composition root: the only code that constructs pools, chain clients, desks and tasks)
and closes everything in reverse order at shutdown. Routers never reach into
``app.state``: they declare what they need with the typed dependencies of
:mod:`aggregator.deps`. Code holding the app (tests, the demo) uses :func:`services_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI

from aggregator.actions.sequencer import OrderSequencer

if TYPE_CHECKING:  # the types only: the domain packages import aggregator.deps, which imports this
    import asyncpg
    from solders.pubkey import Pubkey

    from aggregator.certificates.desk import CertificateDesk
    from aggregator.chain.connect import Chain
    from aggregator.config import Settings
    from aggregator.events.hub import EventHub
    from aggregator.indexer.service import Indexer
    from aggregator.metrics import Metrics
    from aggregator.minting import MintChain, Minter
    from aggregator.payments.rail import BankFileRail
    from aggregator.readings.mqtt import MqttIngest
    from aggregator.readings.service import IngestService
    from aggregator.trading.desk import TradingDesk
    from aggregator.trading.matcher import Matcher
    from aggregator.trading.service import Allowed, RelayGate
    from aggregator.users.tokens import TokenSigner


@dataclass(frozen=True)
class Services:
    """What the lifespan opened. ``None`` means "not running in this configuration"."""

    settings: Settings
    metrics: Metrics
    hub: EventHub
    pool: asyncpg.Pool
    ingest: IngestService
    relay_gate: RelayGate
    token_signer: TokenSigner  # read tokens (aggregator/users/tokens.py)
    chain: MintChain | None = None  # what the minter mints through (None: readings are stored, not minted)
    chain_handle: Chain | None = None  # the opened chain (backend, registry, LiteSVM if in-process)
    minter: Minter | None = None
    trading_desk: TradingDesk | None = None  # markets served and the matcher key
    certificate_desk: CertificateDesk | None = None  # the certificates program and issuer key
    indexer: Indexer | None = None
    matcher: Matcher | None = None
    mqtt: MqttIngest | None = None
    rail: BankFileRail | None = None  # the THB rail (deposits from bank statements, payouts, reserve)
    #: programs and instructions ``POST /api/transactions`` passes (empty: no chain)
    relay_allowlist: dict[Pubkey, Allowed] = field(default_factory=dict)
    #: order ids handed out in sequence to prepared orders (aggregator.actions.sequencer)
    order_sequencer: OrderSequencer = field(default_factory=OrderSequencer)


def services_of(app: FastAPI) -> Services:
    """The running app's services (the lifespan must have started)."""
    services = getattr(app.state, "services", None)
    if services is None:
        raise RuntimeError("the aggregator's lifespan has not started: no services yet")
    assert isinstance(services, Services)
    return services
