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
#: A route that reads a bearer token when one is sent (``MaybeReader``): a bad one is refused.
TOKEN_READ: Errors = {401: ("token_invalid", "token_expired")}
#: A private route (``Reader``): no token, a bad one, or another wallet's data
#: (docs/access-matrix.md).
PRIVATE: Errors = {401: ("token_required", "token_invalid", "token_expired"), 403: ("not_yours",)}
#: The THB rail's routes: a service running without it refuses them all.
NO_RAIL: Errors = {409: ("no_rail",)}
#: The rail's operator routes: the operator's bearer secret (aggregator/payments/operator.py).
RAIL_OPERATOR: Errors = {**NO_RAIL, 401: ("operator_auth_required",), 403: ("operator_not_configured",)}

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
_STATEMENT_IMPORT: Errors = {
    **RAIL_OPERATOR,
    422: ("statement_too_large", "not_xml", "schema_invalid", "unknown_message", "missing_balance",
          "balances_do_not_add_up", "reversal_unsupported", "entry_without_reference", "wrong_currency",
          "bad_amount", "wrong_account", "statement_conflict")}
_CERT_POST: Errors = {404: ("unknown_certificate",), 409: ("no_chain", "not_certificate_owner"),
                      422: ("invalid_address",)}


def merged(*tables: Errors) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for table in tables:
        for status, reasons in table.items():
            out.setdefault(status, [])
            out[status] += [r for r in reasons if r not in out[status]]
    return out


def merged_errors(*tables: Errors) -> Errors:
    """One table of several (each status's reasons joined)."""
    return {status: tuple(reasons) for status, reasons in merged(*tables).items()}


ROUTE_ERRORS: dict[tuple[str, str], Errors] = {
    ("POST", "/api/meters/submit-reading"): _reading_errors(),
    ("POST", "/api/meters/submit-readings"): {422: ("malformed_batch", "empty_batch", "batch_too_large"),
                                              413: ("batch_too_large",)},
    ("POST", "/api/meters"): {401: ("bad_wallet_signature", "challenge_invalid"), 403: ("not_prosumer",),
                              404: ("unknown_user",), 409: ("meter_exists",), 422: ("bad_wallet", "bad_public_key")},
    ("GET", "/api/meters"): PRIVATE,
    ("POST", "/api/meters/{meter_id}/status"): {401: ("bad_wallet_signature", "challenge_invalid", "not_owner"),
                                                404: ("unknown_meter",), 422: ("bad_wallet",)},
    ("GET", "/api/meters/{meter_id}"): merged_errors(PRIVATE, {404: ("unknown_meter",)}),
    ("GET", "/api/meters/{meter_id}/readings"): merged_errors(PRIVATE, {404: ("unknown_meter",)}),
    ("GET", "/api/meters/{meter_id}/reconciliation"): merged_errors(PRIVATE, {404: ("unknown_meter",)}),
    ("GET", "/api/meters/{meter_id}/rejections"): merged_errors(PRIVATE, {404: ("unknown_meter",)}),
    ("GET", "/api/meters/{meter_id}/gaps"): merged_errors(PRIVATE, {404: ("unknown_meter",)}),
    ("GET", "/api/mints"): PRIVATE,
    ("POST", "/api/auth/challenge"): {422: ("bad_wallet", "bad_purpose")},
    ("POST", "/api/users"): {401: ("bad_wallet_signature", "challenge_invalid"), 409: ("user_exists",),
                             422: ("bad_wallet",)},
    ("GET", "/api/users/{wallet}"): merged_errors(PRIVATE, {404: ("unknown_user",)}),
    ("GET", "/api/users/{wallet}/balance"): merged_errors(PRIVATE, {404: ("unknown_user",)}),
    ("POST", "/api/auth/token"): {401: ("bad_wallet_signature", "challenge_invalid"), 422: ("bad_wallet",)},
    ("GET", "/api/auth/whoami"): {401: PRIVATE[401]},
    ("GET", "/api/chain/events"): PRIVATE,
    ("GET", "/api/chain/meters/{meter_id}/totals"): merged_errors(PRIVATE, {404: ("no_chain_settlement",)}),
    ("GET", "/api/markets"): NO_CHAIN,
    ("POST", "/api/transactions"): _RELAY,
    ("GET", "/api/orders"): PRIVATE,
    ("GET", "/api/orderbook"): {**UNKNOWN_MARKET, **NO_CHAIN},
    ("GET", "/api/trades"): PRIVATE,
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
    ("GET", "/api/wallets/{wallet}/balances"): merged_errors(PRIVATE, {422: ("invalid_address",)}),
    ("GET", "/api/wallets/{wallet}/history"): merged_errors(PRIVATE, {422: ("invalid_address",)}),
    ("GET", "/api/wallets/{wallet}/statement"): merged_errors(PRIVATE, {422: ("invalid_address",)}),
    ("GET", "/api/markets/{market}/depth"): UNKNOWN_MARKET,
    ("GET", "/api/markets/{market}/trades"): UNKNOWN_MARKET,
    ("GET", "/api/markets/{market}/candles"): UNKNOWN_MARKET,
    ("GET", "/api/markets/{market}/stats"): UNKNOWN_MARKET,
    ("POST", "/api/payments/references"): {**NO_RAIL, 404: ("unknown_user",)},
    ("POST", "/api/payments/statements"): _STATEMENT_IMPORT,
    ("POST", "/api/payments/withdrawals"): {
        404: ("unknown_user",), 409: ("no_rail", "no_mint_authority"),
        422: ("bad_payout_account", "bad_iban", "bad_account_number", "bad_bic")},
    ("POST", "/api/payments/withdrawals/{payout_id}/burn"): {
        404: ("unknown_payout",), 409: ("no_rail", "payout_not_requested", "burn_failed"),
        413: ("transaction_too_large",), 422: ("malformed_transaction", "not_the_burn", "bad_signature")},
    ("GET", "/api/payments/withdrawals/{payout_id}"): merged_errors(PRIVATE, NO_RAIL, {404: ("unknown_payout",)}),
    ("POST", "/api/payments/payout-files"): {**RAIL_OPERATOR, 409: ("no_rail", "no_reserve_account")},
    ("GET", "/api/payments/payout-files/{file_id}"): {**RAIL_OPERATOR, 404: ("unknown_payout_file",)},
    ("GET", "/api/payments/balance/{wallet}"): {**NO_RAIL, 422: ("bad_wallet",)},
    ("GET", "/api/payments/reserve"): {409: ("no_rail", "no_thb_mint")},
    ("GET", "/api/payments/events"): RAIL_OPERATOR,
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
