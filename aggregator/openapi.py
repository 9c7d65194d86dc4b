"""The OpenAPI schema tells every refusal: each operation lists the error statuses it can
answer and, per status, the reason codes (``{"error": {"reason", "message", "detail"}}``).

:data:`ROUTE_ERRORS` is the one table, per operation; refusals that can reach any
operation are added to all of them (:data:`EVERY_OPERATION`, :data:`WITH_BODY`,
:data:`RATE_LIMITED`). A test walks the app's routes and fails on one missing here, and a
schema fuzzer (schemathesis) checks that no response is undocumented.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from aggregator.readings.reasons import Reason, http_status

Errors = dict[int, tuple[str, ...]]

#: Any operation: a malformed path, query or body; text PostgreSQL cannot store.
EVERY_OPERATION: Errors = {422: ("malformed_request", "unstorable_text")}
#: Operations with a request body: the HTTP limits refuse one that is too large; a body
#: that is not even JSON text (not UTF-8, say) is refused before validation.
WITH_BODY: Errors = {413: ("body_too_large",), 400: ("unparsable_body",)}
#: Unauthenticated writes the HTTP limits meter per client address.
RATE_LIMITED: Errors = {429: ("rate_limited",)}
NO_CHAIN: Errors = {409: ("no_chain",)}
UNKNOWN_MARKET: Errors = {404: ("unknown_market",)}

_ENVELOPE = ("bad_field_type", "bad_field_value", "bad_meter_id", "bad_public_key", "bad_signature",
             "bad_signature_length", "malformed_json", "missing_field", "not_a_number", "out_of_range",
             "too_large", "unexpected_field", "unknown_kind", "unsupported_version", "meter_mismatch")


def _reading_errors() -> Errors:
    out: dict[int, list[str]] = {}
    for reason in [*(r.value for r in Reason), *_ENVELOPE]:
        out.setdefault(http_status(reason), []).append(reason)
    return {status: tuple(sorted(set(reasons))) for status, reasons in out.items()}


_RELAY: Errors = {
    422: ("malformed_transaction", "no_instructions", "program_not_allowed", "instruction_not_allowed"),
    413: ("transaction_too_large",), 401: ("bad_signature",),
    409: ("program_error", "transaction_failed", "no_chain"), 503: ("relay_busy",), 504: ("confirmation_timeout",),
}
_ACTION_GET: Errors = {**UNKNOWN_MARKET}
_ACTION_POST: Errors = {**UNKNOWN_MARKET, 409: ("no_chain",), 422: ("invalid_address",)}
_TAKE_POST: Errors = {404: ("unknown_market",), 422: ("invalid_address",), 413: ("transaction_too_large",),
                      409: ("no_chain", "not_matched_here", "auction_market", "order_not_takeable", "nothing_to_take")}
_CERT_POST: Errors = {404: ("unknown_certificate",), 409: ("no_chain", "not_certificate_owner"),
                      422: ("invalid_address",)}

ROUTE_ERRORS: dict[tuple[str, str], Errors] = {
    ("POST", "/api/meters/submit-reading"): _reading_errors(),
    ("POST", "/api/meters/submit-readings"): {422: ("malformed_batch", "empty_batch", "batch_too_large"),
                                              413: ("batch_too_large",)},
    ("POST", "/api/meters"): {401: ("bad_wallet_signature", "challenge_invalid"), 403: ("not_prosumer",),
                              404: ("unknown_user",), 409: ("meter_exists",), 422: ("bad_wallet", "bad_public_key")},
    ("GET", "/api/meters"): {},
    ("POST", "/api/meters/{meter_id}/status"): {401: ("bad_wallet_signature", "challenge_invalid", "not_owner"),
                                                404: ("unknown_meter",), 422: ("bad_wallet",)},
    ("GET", "/api/meters/{meter_id}"): {404: ("unknown_meter",)},
    ("GET", "/api/meters/{meter_id}/readings"): {404: ("unknown_meter",)},
    ("GET", "/api/meters/{meter_id}/reconciliation"): {404: ("unknown_meter",)},
    ("GET", "/api/meters/{meter_id}/rejections"): {404: ("unknown_meter",)},
    ("GET", "/api/meters/{meter_id}/gaps"): {404: ("unknown_meter",)},
    ("GET", "/api/mints"): {},
    ("POST", "/api/auth/challenge"): {422: ("bad_wallet", "bad_purpose")},
    ("POST", "/api/users"): {401: ("bad_wallet_signature", "challenge_invalid"), 409: ("user_exists",),
                             422: ("bad_wallet",)},
    ("GET", "/api/users/{wallet}"): {404: ("unknown_user",)},
    ("GET", "/api/users/{wallet}/balance"): {404: ("unknown_user",)},
    ("GET", "/api/chain/events"): {},
    ("GET", "/api/chain/meters/{meter_id}/totals"): {404: ("no_chain_settlement",)},
    ("GET", "/api/markets"): NO_CHAIN,
    ("POST", "/api/transactions"): _RELAY,
    ("GET", "/api/orders"): {},
    ("GET", "/api/orderbook"): {**UNKNOWN_MARKET, **NO_CHAIN},
    ("GET", "/api/trades"): {},
    ("GET", "/api/matcher/batches"): {},
    ("POST", "/api/certificates"): {
        401: ("bad_wallet_signature", "challenge_invalid", "not_owner"), 404: ("unknown_meter",),
        409: ("no_chain", "no_issuer", "interval_not_minted", "nothing_to_certify", "interval_not_metered",
              "insufficient_generation", "meter_not_on_chain", "meter_inactive", "interval_already_certified"),
        422: ("bad_wallet", "bad_interval")},
    ("GET", "/api/certificates"): {},
    ("GET", "/api/certificates/{certificate}"): {404: ("unknown_certificate",)},
    ("GET", "/actions.json"): {},
    ("GET", "/api/actions/icon.svg"): {},
    ("GET", "/api/actions/markets/{market}/order"): _ACTION_GET,
    ("POST", "/api/actions/markets/{market}/order"): {**_ACTION_POST, 413: ("transaction_too_large",)},
    ("GET", "/api/actions/markets/{market}/orders/{order}/cancel"): _ACTION_GET,
    ("POST", "/api/actions/markets/{market}/orders/{order}/cancel"): {
        404: ("unknown_market", "unknown_order"), 409: ("no_chain", "wrong_market", "not_order_owner"),
        422: ("invalid_address",)},
    ("GET", "/api/actions/markets/{market}/buy-now"): _ACTION_GET,
    ("POST", "/api/actions/markets/{market}/buy-now"): _TAKE_POST,
    ("GET", "/api/actions/markets/{market}/sell-now"): _ACTION_GET,
    ("POST", "/api/actions/markets/{market}/sell-now"): _TAKE_POST,
    ("GET", "/api/actions/markets/{market}/deposit"): _ACTION_GET,
    ("POST", "/api/actions/markets/{market}/deposit"): _ACTION_POST,
    ("GET", "/api/actions/markets/{market}/withdraw"): _ACTION_GET,
    ("POST", "/api/actions/markets/{market}/withdraw"): _ACTION_POST,
    ("GET", "/api/actions/certificates/{certificate}/transfer"): {},
    ("POST", "/api/actions/certificates/{certificate}/transfer"): _CERT_POST,
    ("GET", "/api/actions/certificates/{certificate}/retire"): {},
    ("POST", "/api/actions/certificates/{certificate}/retire"): _CERT_POST,
    ("GET", "/api/wallets/{wallet}/balances"): {422: ("invalid_address",)},
    ("GET", "/api/wallets/{wallet}/history"): {422: ("invalid_address",)},
    ("GET", "/api/wallets/{wallet}/statement"): {422: ("invalid_address",)},
    ("GET", "/api/markets/{market}/depth"): UNKNOWN_MARKET,
    ("GET", "/api/markets/{market}/trades"): UNKNOWN_MARKET,
    ("GET", "/api/markets/{market}/candles"): UNKNOWN_MARKET,
    ("GET", "/api/markets/{market}/stats"): UNKNOWN_MARKET,
    ("GET", "/healthz"): {},
    ("GET", "/readyz"): {},  # its 503 is documented on the route (the readiness body, not an error)
    ("GET", "/metrics"): {},
}

#: Operations the HTTP limits meter (kept in step with ``http_limits.UNAUTHENTICATED_WRITES``).
def _metered() -> set[tuple[str, str]]:
    from aggregator.http_limits import UNAUTHENTICATED_WRITES
    return set(UNAUTHENTICATED_WRITES)


ERROR_BODY = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["reason", "message"], "properties": {
        "reason": {"type": "string", "description": "stable machine-readable code"},
        "message": {"type": "string"},
        "detail": {"type": "object", "additionalProperties": True}}}},
}


def merged(*tables: Errors) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for table in tables:
        for status, reasons in table.items():
            out.setdefault(status, [])
            out[status] += [r for r in reasons if r not in out[status]]
    return out


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every operation's error responses to a generated schema (in place; returned)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_BODY
    metered = _metered()
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            key = (method.upper(), path)
            if key not in ROUTE_ERRORS:
                raise KeyError(f"{key} has no entry in aggregator.openapi.ROUTE_ERRORS")
            tables = [EVERY_OPERATION, ROUTE_ERRORS[key]]
            if "requestBody" in op or method.upper() == "POST":
                tables.append(WITH_BODY)
            if key in metered:
                tables.append(RATE_LIMITED)
            responses = op.setdefault("responses", {})
            for status, reasons in sorted(merged(*tables).items()):
                if str(status) in responses and status != 422:
                    continue
                responses[str(status)] = {
                    "description": "refused; reason one of: " + ", ".join(f"`{r}`" for r in reasons),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    "x-reasons": reasons,
                }
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) document every error response."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
