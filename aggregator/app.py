"""FastAPI application factory and lifespan.

The lifespan owns every I/O object: the PostgreSQL server (embedded when no URL is
configured), the asyncpg pool, the chain (LiteSVM in-process by default, JSON-RPC, or
none) with the minter task, the ingest service and the MQTT consumer task. Tests pass
their own pool or chain in; production passes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aggregator.certificates import CertificateDesk, local_certificate_desk, rpc_certificate_desk
from aggregator.certificates import router as certificates_router
from aggregator.chain.connect import Chain, open_chain
from aggregator.config import Settings
from aggregator.db.embedded import EmbeddedPostgres
from aggregator.db.migrate import migrate
from aggregator.db.pool import create_pool
from aggregator.errors import install_error_handlers
from aggregator.events.hub import EventHub
from aggregator.http_limits import HttpLimits
from aggregator.indexer import Indexer
from aggregator.indexer import router as indexer_router
from aggregator.logs import configure_logging
from aggregator.meters.router import router as meters_router
from aggregator.metrics import Metrics
from aggregator.minting import MintChain, Minter, MintLedger
from aggregator.readings import repository as readings_repo
from aggregator.readings.mqtt import MqttIngest
from aggregator.readings.router import router as readings_router
from aggregator.readings.service import IngestService
from aggregator.trading import Matcher, TradingDesk, local_desk, rpc_desk
from aggregator.trading import router as trading_router
from aggregator.trading.service import relay_allowlist
from aggregator.users.router import router as users_router

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
            app.state.pool = pool or await _open_pool(settings, stack)
            if settings.run_migrations:
                async with app.state.pool.acquire() as conn:
                    applied = await migrate(conn)
                if applied:
                    log.info("migrations applied", extra={"fields": {"versions": applied}})
            minter = await _start_minter(app, settings, stack, chain_handle)
            await _open_trading_desk(app, settings, trading_desk)
            await _open_certificate_desk(app, settings, certificate_desk)
            _start_indexer(app, settings, stack)
            _start_matcher(app, settings, stack)
            ingest = IngestService(app.state.pool, settings.ingest, metrics=app.state.metrics, hub=app.state.hub,
                                   on_accepted=minter.wake if minter else None)
            stack.callback(ingest.close)
            app.state.ingest = ingest
            if settings.mqtt.enabled:
                consumer = MqttIngest(settings.mqtt, ingest, app.state.metrics)
                app.state.mqtt = consumer
                task = asyncio.create_task(consumer.run(), name="gtx-mqtt-ingest")
                stack.push_async_callback(_cancel, task)
            yield

    app = FastAPI(
        title="GridTokenX aggregator",
        version="0.1.0",
        description="Ingests signed meter readings (MQTT and HTTP), validates and stores them, "
        "and serves meters, readings, mints and balances.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.hub = EventHub()
    app.state.chain = chain  # the MintChain in use (None: readings are stored, not minted)
    app.state.chain_handle = None  # the opened chain when the settings named it (Chain)
    app.state.minter = None
    app.state.indexer = None
    app.state.trading_desk = None  # markets served (TradingDesk) when a chain is open
    app.state.matcher = None
    app.state.certificate_desk = None  # the certificates program and issuer key (CertificateDesk)
    app.state.relay_allowlist = {}  # programs and instructions POST /api/transactions passes
    app.state.mqtt = None
    install_error_handlers(app)
    app.add_middleware(HttpLimits, settings=settings)
    app.include_router(readings_router)
    app.include_router(meters_router)
    app.include_router(users_router)
    app.include_router(indexer_router)
    app.include_router(trading_router)
    app.include_router(certificates_router)
    _install_ops_routes(app)
    return app


async def _open_pool(settings: Settings, stack: contextlib.AsyncExitStack) -> asyncpg.Pool:
    dsn = settings.database_url
    if dsn is None:
        server = EmbeddedPostgres(settings.embedded_pg_dir)
        dsn = await asyncio.to_thread(server.start)
        stack.push_callback(server.stop)
        log.info("embedded postgres started", extra={"fields": {"data_dir": str(server.data_dir)}})
    pool = await create_pool(
        dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
        init=readings_repo.prepare_connection,
    )
    stack.push_async_callback(pool.close)
    return pool


async def _start_minter(app: FastAPI, settings: Settings, stack: contextlib.AsyncExitStack,
                        chain_handle: Chain | None) -> Minter | None:
    if chain_handle is not None:
        app.state.chain_handle = chain_handle
        app.state.chain = app.state.chain or chain_handle.service
    if app.state.chain is None:
        handle = await open_chain(settings.chain)
        if handle is not None:
            stack.push_async_callback(handle.close)
            app.state.chain_handle = handle
            app.state.chain = handle.service
    if app.state.chain is None or not settings.mint_enabled:
        return None
    ledger = MintLedger(app.state.pool, max_readings=settings.mint_batch_max_readings,
                        max_attempts=settings.mint_max_attempts, backoff_base_s=settings.mint_backoff_base_s,
                        metrics=app.state.metrics, hub=app.state.hub)
    minter = Minter(ledger, app.state.chain, sweep_s=settings.mint_sweep_s, concurrency=settings.mint_concurrency)
    app.state.minter = minter
    task = asyncio.create_task(minter.run(), name="gtx-minter")
    stack.push_async_callback(_cancel, task)
    return minter


def _start_indexer(app: FastAPI, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    """Chain events -> PostgreSQL, for the chain the settings opened (after it, so it stops first)."""
    handle = app.state.chain_handle
    if handle is None or not settings.indexer_enabled:
        return
    programs = [handle.registry.program, handle.registry.token.program]
    if app.state.trading_desk is not None:
        programs.append(app.state.trading_desk.trading.program)
    if app.state.certificate_desk is not None:
        programs.append(app.state.certificate_desk.certificates.program)
    indexer = Indexer(app.state.pool, handle.backend, programs, hub=app.state.hub, poll_s=settings.indexer_poll_s)
    app.state.indexer = indexer
    task = asyncio.create_task(indexer.run(), name="gtx-chain-indexer")
    stack.push_async_callback(_cancel, task)


async def _open_trading_desk(app: FastAPI, settings: Settings, desk: TradingDesk | None) -> None:
    """The markets to serve: given, created on the in-process chain, or read from the cluster."""
    handle = app.state.chain_handle
    if handle is None:
        return
    if desk is None:
        desk = local_desk(handle) if handle.local is not None else await rpc_desk(handle, settings.chain)
    app.state.trading_desk = desk
    log.info("trading markets", extra={"fields": {"markets": [str(m.address) for m in desk.markets],
                                                   "matched": [str(m.address) for m in desk.matched_markets()]}})


async def _open_certificate_desk(app: FastAPI, settings: Settings, desk: CertificateDesk | None) -> None:
    """The certificates program and issuer key (given, initialised in-process, or checked on the
    cluster), then what the relay lets users send to the programs served."""
    handle = app.state.chain_handle
    if handle is None:
        return
    if desk is None:
        desk = local_certificate_desk(handle) if handle.local is not None else await rpc_certificate_desk(
            handle, settings.chain)
    app.state.certificate_desk = desk
    trading = app.state.trading_desk.trading if app.state.trading_desk is not None else None
    app.state.relay_allowlist = relay_allowlist(trading, desk.certificates if desk is not None else None)
    if desk is not None:
        log.info("certificates", extra={"fields": {"program": str(desk.certificates.program_id),
                                                   "issuer": str(desk.issuer.pubkey()) if desk.issuer else None}})


def _start_matcher(app: FastAPI, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    """Match the markets whose matcher key the desk holds (woken by indexed new orders)."""
    desk: TradingDesk | None = app.state.trading_desk
    if desk is None or desk.matcher is None or not desk.matched_markets() or not settings.matcher_enabled:
        return
    matcher = Matcher(app.state.pool, app.state.chain_handle.backend, desk.trading, desk.matched_markets(),
                      desk.matcher, hub=app.state.hub, sweep_s=settings.matcher_sweep_s)
    app.state.matcher = matcher
    task = asyncio.create_task(matcher.run(), name="gtx-matcher")
    stack.push_async_callback(_cancel, task)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _install_ops_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request, response: Response) -> dict[str, Any]:
        state = request.app.state
        db_ok = True
        try:
            async with state.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError):
            db_ok = False
        mqtt_ok = state.mqtt is None or state.mqtt.connected.is_set()
        if not (db_ok and mqtt_ok):
            response.status_code = 503
        return {"database": db_ok, "mqtt": None if state.mqtt is None else mqtt_ok,
                "minter": state.minter is not None}

    @app.get("/metrics", tags=["ops"])
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/api/events")
    async def events(ws: WebSocket) -> None:
        """Stream of ``reading_confirmed``, ``gap_recorded`` and mint events (JSON)."""
        await ws.accept()
        sub = ws.app.state.hub.subscribe()
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
