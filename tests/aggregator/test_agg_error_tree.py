"""The error tree in aggregator/errors.py: every public error class the service or its
chain library defines belongs to it and is named in its docstring; request errors map to
their HTTP status once."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import httpx
from fastapi import FastAPI

import aggregator
from aggregator import errors
from aggregator.chain.errors import ChainClientError
from aggregator.errors import AggregatorError, RequestError, install_error_handlers


def _error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name \
                    and not name.startswith("_"):
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_error_class_belongs_to_the_documented_tree() -> None:
    classes = _error_classes()
    assert len(classes) >= 20
    outside = [name for name, cls in classes.items() if not issubclass(cls, (AggregatorError, ChainClientError))]
    assert outside == []
    tree = errors.__doc__ or ""
    from aggregator.chain import errors as chain_errors
    undocumented = [name for name, cls in classes.items()
                    if cls.__name__ not in tree and cls.__name__ not in (chain_errors.__doc__ or "")]
    assert undocumented == []


def test_the_chain_library_errors_do_not_derive_from_the_service() -> None:
    for cls in (ChainClientError, *ChainClientError.__subclasses__()):
        assert not issubclass(cls, AggregatorError), cls


def _raising(exc: Exception):  # noqa: ANN202 - a route
    async def route() -> None:
        raise exc
    return route


async def test_request_errors_map_once_to_their_status_and_reason() -> None:
    from aggregator.trading.service import ConfirmationTimeout, RelayBusy

    app = FastAPI()
    install_error_handlers(app)
    cases: dict[str, RequestError] = {
        "/busy": RelayBusy("relay_busy", "retry shortly", retry_after_s=1),
        "/slow": ConfirmationTimeout("confirmation_timeout", "not confirmed", signature="abc"),
        "/nope": errors.NotFound("unknown_thing", "no such thing"),
    }
    for path, exc in cases.items():
        app.add_api_route(path, _raising(exc))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answers = {path: await client.get(path) for path in cases}
    assert {p: r.status_code for p, r in answers.items()} == {"/busy": 503, "/slow": 504, "/nope": 404}
    assert answers["/slow"].json() == {"error": {"reason": "confirmation_timeout", "message": "not confirmed",
                                                 "detail": {"signature": "abc"}}}
