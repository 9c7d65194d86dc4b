"""FastAPI application factory and lifespan: the service's composition root.

The lifespan builds one :class:`aggregator.services.Services` (the typed container) and
owns every I/O object in it: the PostgreSQL server (embedded when no URL is configured),
the asyncpg pool, the chain (LiteSVM in-process by default, JSON-RPC, or none) with the
minter task, the trading and certificate desks, the indexer and matcher tasks, the ingest
service and the MQTT consumer task. Everything is closed in reverse order at shutdown,
also when the start fails half-way. Routers get these through :mod:`aggregator.deps`.
Tests pass their own pool or chain in; production passes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from fastapi import FastAPI, Response, WebSocket, WebSocketDisconnect
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from solders.pubkey import Pubkey

from aggregator import leader
from aggregator.actions.router import ActionsCors
from aggregator.actions.router import router as actions_router
from aggregator.certificates import CertificateDesk, local_certificate_desk, rpc_certificate_desk
from aggregator.certificates import router as certificates_router
from aggregator.chain.connect import Chain, open_chain
from aggregator.config import Settings
from aggregator.db.embedded import database_async
from aggregator.db.migrate import migrate
from aggregator.db.pool import create_pool
from aggregator.deps import AppMetrics, AppServices, Hub
from aggregator.errors import install_error_handlers
from aggregator.events.hub import EventHub
from aggregator.http_limits import HttpLimits
from aggregator.indexer import Indexer
from aggregator.indexer import router as indexer_router
from aggregator.leader import lead
from aggregator.logs import configure_logging
from aggregator.marketdata import router as marketdata_router
from aggregator.meters.router import router as meters_router
from aggregator.metrics import Metrics
from aggregator.minting import MintChain, Minter, MintLedger
from aggregator.minting.chain import ChainService
from aggregator.openapi import install as install_openapi
from aggregator.payments.rail import open_rail
from aggregator.payments.router import router as payments_router
from aggregator.portfolio import router as portfolio_router
from aggregator.readings import repository as readings_repo
from aggregator.readings.mqtt import MqttIngest
from aggregator.readings.router import router as readings_router
from aggregator.readings.service import IngestService
from aggregator.services import Services
from aggregator.trading import Matcher, TradingDesk, local_desk, rpc_desk
from aggregator.trading import router as trading_router
from aggregator.trading.service import RelayGate, relay_allowlist
from aggregator.users.router import router as users_router
from aggregator.users.tokens import TokenSigner, events_refusal, load_secret
from aggregator.users.tokens import router as tokens_router

log = logging.getLogger("aggregator.app")


def create_app(
    settings: Settings | None = None,
    *,
    pool: asyncpg.Pool | None = None,
    chain: MintChain | None = None,
    chain_handle: Chain | None = None,
    trading_desk: TradingDesk | None = None,
    certificate_desk: CertificateDesk | None = None,
) -> FastAPI:
    """Build the app. ``pool``: use this pool (caller owns it); ``chain``: mint through this
    instead of the chain the settings name; ``chain_handle``: use this opened chain (caller
    owns it; an in-process chain then outlives the app, as a cluster outlives a restart);
    ``trading_desk``: serve these markets instead of creating or loading them;
    ``certificate_desk``: serve certificates with this issuer instead of initialising or loading one."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        async with contextlib.AsyncExitStack() as stack:
            app.state.services = await open_services(
                settings, stack, pool=pool, chain=chain, chain_handle=chain_handle,
                trading_desk=trading_desk, certificate_desk=certificate_desk)
            yield

    app = FastAPI(
        title="GridTokenX aggregator",
        version="0.1.0",
        description="Ingests signed meter readings (MQTT and HTTP), validates and stores them, "
        "and serves meters, readings, mints and balances.",
        lifespan=lifespan,
    )
    app.state.services = None  # a Services while the lifespan runs (aggregator.services.services_of)
    install_error_handlers(app)
    app.add_middleware(HttpLimits, settings=settings)
    app.include_router(readings_router)
    app.include_router(meters_router)
    app.include_router(users_router)
    app.include_router(tokens_router)
    app.include_router(indexer_router)
    app.include_router(trading_router)
    app.include_router(certificates_router)
    app.include_router(actions_router)
    app.include_router(portfolio_router)
    app.include_router(marketdata_router)
    app.add_middleware(ActionsCors)
    app.include_router(payments_router)
    _install_ops_routes(app)
    install_openapi(app)
    return app


async def open_services(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    pool: asyncpg.Pool | None = None,
    chain: MintChain | None = None,
    chain_handle: Chain | None = None,
    trading_desk: TradingDesk | None = None,
    certificate_desk: CertificateDesk | None = None,
) -> Services:
    """Open everything the service runs, in dependency order; ``stack`` closes it in
    reverse (tasks are cancelled before the chain and the pool they use are closed)."""
    metrics, hub = Metrics(), EventHub()
    pool = pool or await _open_pool(settings, stack)
    if settings.run_migrations:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("migrations applied", extra={"fields": {"versions": applied}})
    token_signer = TokenSigner(await load_secret(pool, settings))
    if chain_handle is None and chain is None:
        chain_handle = await open_chain(settings.chain)
        if chain_handle is not None:
            stack.push_async_callback(chain_handle.close)
    if chain is None and chain_handle is not None:
        chain = ChainService(chain_handle.backend, chain_handle.oracle, chain_handle.registry)
    minter = _start_minter(settings, stack, pool, chain, metrics, hub)
    trading_desk = await _open_trading_desk(settings, chain_handle, trading_desk)
    certificate_desk = await _open_certificate_desk(settings, chain_handle, certificate_desk)
    rail = await open_rail(settings.thb, pool, chain_handle, trading_desk)  # before the indexer: may add a market
    if rail is not None:
        _run_task(stack, rail.run(), "gtx-thb-rail")
    allowlist = relay_allowlist(trading_desk.trading if trading_desk is not None else None,
                                certificate_desk.certificates if certificate_desk is not None else None,
                                matchers=_matcher_keys(trading_desk),
                                registry=chain_handle.registry if chain_handle is not None else None) \
        if chain_handle is not None else {}
    indexer = _start_indexer(settings, stack, pool, chain_handle, trading_desk, certificate_desk, hub)
    if indexer is not None and minter is not None:
        indexer.on_meter_registered = minter.wake  # readings that waited for the registration mint now
    matcher = _start_matcher(settings, stack, pool, chain_handle, trading_desk, hub)
    ingest = IngestService(pool, settings.ingest, metrics=metrics, hub=hub,
                           on_accepted=minter.wake if minter else None)
    stack.callback(ingest.close)
    mqtt = None
    if settings.mqtt.enabled:
        mqtt = MqttIngest(settings.mqtt, ingest, metrics)
        _run_task(stack, mqtt.run(), "gtx-mqtt-ingest")
    return Services(settings=settings, metrics=metrics, hub=hub, pool=pool, ingest=ingest, relay_gate=RelayGate(),
                    token_signer=token_signer,
                    chain=chain, chain_handle=chain_handle, minter=minter, trading_desk=trading_desk,
                    certificate_desk=certificate_desk, indexer=indexer, matcher=matcher, mqtt=mqtt,
                    relay_allowlist=allowlist, rail=rail)


def _matcher_keys(desk: TradingDesk | None) -> tuple[Pubkey, ...]:
    """Matcher keys this service holds: a user's take it co-signed may carry ``settle_fills``."""
    return (desk.matcher.pubkey(),) if desk is not None and desk.matcher is not None else ()


async def _open_pool(settings: Settings, stack: contextlib.AsyncExitStack) -> asyncpg.Pool:
    dsn = await stack.enter_async_context(database_async(settings.database_url, settings.pg_dir))
    pool = await create_pool(
        dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
        init=readings_repo.prepare_connection,
    )
    stack.push_async_callback(_close_pool, pool)
    return pool


#: How long shutdown waits for connections still held (by a request cut off mid-way) before
#: it closes them anyway: a stop must never hang on one.
POOL_CLOSE_S = 10.0


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), POOL_CLOSE_S)
    except TimeoutError:
        log.warning("database connections still held after %.0f s at shutdown: closed", POOL_CLOSE_S)
        pool.terminate()


def _run_task(stack: contextlib.AsyncExitStack, coro: Any, name: str) -> None:
    task = asyncio.create_task(coro, name=name)
    stack.push_async_callback(_cancel, task)


def _run_role(stack: contextlib.AsyncExitStack, settings: Settings, run: Any, role: str) -> None:
    """A single-instance loop: under leader election (replicas), only in the process that
    holds the role's advisory lock (aggregator/leader.py); else here."""
    if settings.leader_election and settings.database_url is not None:
        _run_task(stack, lead(settings.database_url, role, run), f"gtx-{role}-election")
    else:
        _run_task(stack, run(), f"gtx-{role}")


def _start_minter(settings: Settings, stack: contextlib.AsyncExitStack, pool: asyncpg.Pool,
                  chain: MintChain | None, metrics: Metrics, hub: EventHub) -> Minter | None:
    if chain is None or not settings.mint_enabled:
        return None
    ledger = MintLedger(pool, max_readings=settings.mint_batch_max_readings,
                        max_attempts=settings.mint_max_attempts, backoff_base_s=settings.mint_backoff_base_s,
                        metrics=metrics, hub=hub, owner_batches_per_hour=settings.mint_owner_batches_per_hour)
    minter = Minter(ledger, chain, sweep_s=settings.mint_sweep_s, concurrency=settings.mint_concurrency)
    _run_role(stack, settings, minter.run, "minter")
    return minter


def _start_indexer(settings: Settings, stack: contextlib.AsyncExitStack, pool: asyncpg.Pool,
                   handle: Chain | None, trading_desk: TradingDesk | None,
                   certificate_desk: CertificateDesk | None, hub: EventHub) -> Indexer | None:
    """Chain events -> PostgreSQL, for the chain the settings opened (after it, so it stops first)."""
    if handle is None or not settings.indexer_enabled:
        return None
    programs = [handle.registry.program, handle.registry.token.program]
    if trading_desk is not None:
        programs.append(trading_desk.trading.program)
    if certificate_desk is not None:
        programs.append(certificate_desk.certificates.program)
    indexer = Indexer(pool, handle.backend, programs, hub=hub, poll_s=settings.indexer_poll_s)
    _run_role(stack, settings, indexer.run, "chain-indexer")
    return indexer


async def _open_trading_desk(settings: Settings, handle: Chain | None,
                             desk: TradingDesk | None) -> TradingDesk | None:
    """The markets to serve: given, created on the in-process chain, or read from the cluster."""
    if handle is None:
        return None
    if desk is None:
        desk = local_desk(handle) if handle.local is not None else await rpc_desk(handle, settings.chain)
    log.info("trading markets", extra={"fields": {"markets": [str(m.address) for m in desk.markets],
                                                   "matched": [str(m.address) for m in desk.matched_markets()]}})
    return desk


async def _open_certificate_desk(settings: Settings, handle: Chain | None,
                                 desk: CertificateDesk | None) -> CertificateDesk | None:
    """The certificates program and issuer key (given, initialised in-process, or checked on the cluster)."""
    if handle is None:
        return None
    if desk is None:
        desk = local_certificate_desk(handle) if handle.local is not None else await rpc_certificate_desk(
            handle, settings.chain)
    if desk is not None:
        log.info("certificates", extra={"fields": {"program": str(desk.certificates.program_id),
                                                   "issuer": str(desk.issuer.pubkey()) if desk.issuer else None}})
    return desk


def _start_matcher(settings: Settings, stack: contextlib.AsyncExitStack, pool: asyncpg.Pool,
                   handle: Chain | None, desk: TradingDesk | None, hub: EventHub) -> Matcher | None:
    """Match the markets whose matcher key the desk holds (woken by indexed new orders)."""
    if handle is None or desk is None or desk.matcher is None or not desk.matched_markets() \
            or not settings.matcher_enabled:
        return None
    matcher = Matcher(pool, handle.backend, desk.trading, desk.matched_markets(),
                      desk.matcher, hub=hub, sweep_s=settings.matcher_sweep_s)
    _run_role(stack, settings, matcher.run, "matcher")
    return matcher


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _install_ops_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "not ready: the same body, the failing "
                                                                       "part false"}})
    async def readyz(services: AppServices, response: Response) -> dict[str, Any]:
        db_ok = True
        try:
            async with services.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError):
            db_ok = False
        mqtt = services.mqtt
        mqtt_ok = mqtt is None or mqtt.connected.is_set()
        if not (db_ok and mqtt_ok):
            response.status_code = 503
        return {"database": db_ok, "mqtt": None if mqtt is None else mqtt_ok,
                "minter": services.minter is not None,
                **({"leader_of": sorted(leader.HELD)} if services.settings.leader_election else {})}

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                              "description": "Prometheus text exposition"}})
    async def metrics(app_metrics: AppMetrics) -> Response:
        return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/api/events")
    async def events(ws: WebSocket, hub: Hub, services: AppServices) -> None:
        """Stream of ``reading_confirmed``, ``gap_recorded`` and mint events (JSON) of every
        meter: for the grid operator and admins (token as ``?token=`` or a bearer header)."""
        refusal = events_refusal(ws, services)
        await ws.accept()  # then close with the reason: a refused handshake could not carry one
        if refusal is not None:
            await ws.close(code=1008, reason=refusal)
            return
        sub = hub.subscribe()
        # Watch the client too: a closed socket ends the handler at once, not at the next
        # event (an idle stream would otherwise hold up a graceful shutdown).
        closed = asyncio.ensure_future(_until_closed(ws))
        try:
            await ws.send_json({"type": "subscribed"})
            while True:
                event = asyncio.ensure_future(sub.get())
                await asyncio.wait({event, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not event.done():
                    event.cancel()
                    return
                await ws.send_json(event.result())
        except WebSocketDisconnect:
            pass
        finally:
            closed.cancel()
            sub.close()


async def _until_closed(ws: WebSocket) -> None:
    """Return when the client disconnects (anything it sends is ignored)."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass
