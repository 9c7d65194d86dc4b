"""Typed FastAPI dependencies: how a router gets what the lifespan opened.

A route declares a parameter with one of these types and FastAPI passes it in::

    @router.get("/api/things")
    async def list_things(pool: Pool, settings: AppSettings) -> list[Thing]:
        async with pool.acquire() as conn:
            ...

Each alias is ``Annotated[<type>, Depends(<getter>)]``, so the parameter is typed for the
reader and for mypy, and a test replaces one with ``app.dependency_overrides[getter]``.
Something a domain needs only when it is configured (the chain, the trading desk) gets a
getter in that domain's router that raises the domain's ``Conflict`` when it is off.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends
from starlette.requests import HTTPConnection

from aggregator.config import Settings
from aggregator.events.hub import EventHub
from aggregator.metrics import Metrics
from aggregator.readings.service import IngestService
from aggregator.services import Services, services_of


def get_services(connection: HTTPConnection) -> Services:
    """The container the lifespan built (HTTP and WebSocket routes alike)."""
    return services_of(connection.app)


AppServices = Annotated[Services, Depends(get_services)]


def get_pool(services: AppServices) -> asyncpg.Pool:
    return services.pool


def get_settings(services: AppServices) -> Settings:
    return services.settings


def get_ingest(services: AppServices) -> IngestService:
    return services.ingest


def get_hub(services: AppServices) -> EventHub:
    return services.hub


def get_metrics(services: AppServices) -> Metrics:
    return services.metrics


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Ingest = Annotated[IngestService, Depends(get_ingest)]
Hub = Annotated[EventHub, Depends(get_hub)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]
