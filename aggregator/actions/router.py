"""Solana Actions: each trading or certificate operation as a GET (what it is, which
parameters it takes) and a POST ``{"account": <wallet>}`` answering a base64 transaction
for that wallet to sign and a message saying what it does.

``GET /actions.json`` maps the service's action URLs for clients that unfurl them, and
every action URL answers CORS preflights and carries the headers the Actions
specification requires (:class:`ActionsCors`). Parameters travel in the query string,
as in the specification's parameterised ``href`` templates; the POST takes the same
query as the GET advertised.

| action | path | parameters |
|---|---|---|
| limit order | ``/api/actions/markets/{market}/order`` | side, price_per_kwh_micro, energy_wh, expires_in_s |
| cancel | ``/api/actions/markets/{market}/orders/{order}/cancel`` | |
| buy now | ``/api/actions/markets/{market}/buy-now`` | energy_wh, max_price_per_kwh_micro, order |
| sell now | ``/api/actions/markets/{market}/sell-now`` | energy_wh, min_price_per_kwh_micro, order |
| deposit / withdraw | ``/api/actions/markets/{market}/deposit`` (``withdraw``) | asset, amount |
| certificate | ``/api/actions/certificates/{certificate}/transfer`` (``retire``) | to |
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from solders.pubkey import Pubkey
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.actions import build
from aggregator.chain.connect import Chain
from aggregator.chain.trading import ASK, BID, MarketRef
from aggregator.deps import AppServices, Pool
from aggregator.errors import Conflict, NotFound, ValidationFailed
from aggregator.trading import repository as trading_repo
from aggregator.trading.desk import TradingDesk

router = APIRouter(tags=["actions"])

ACTIONS_VERSION = "2.4"
BLOCKCHAIN_IDS = "solana:localnet"  # CAIP-2 of the cluster the service runs against
ACTION_PATHS = ("/api/actions", "/actions.json")
CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET,POST,PUT,OPTIONS",
    "access-control-allow-headers": "Content-Type, Authorization, Content-Encoding, Accept-Encoding, "
                                    "X-Action-Version, X-Blockchain-Ids",
    "access-control-expose-headers": "X-Action-Version, X-Blockchain-Ids",
    "x-action-version": ACTIONS_VERSION,
    "x-blockchain-ids": BLOCKCHAIN_IDS,
}
ICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
            'fill="#0b3d2e"/><path d="M36 6 18 36h12l-4 22 20-32H34z" fill="#f5c400"/></svg>')


class ActionsCors:
    """ASGI middleware: CORS for action URLs, and ``OPTIONS`` answered 200 with what they allow."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ACTION_PATHS):
            await self.app(scope, receive, send)
            return
        headers = [(k.encode(), v.encode()) for k, v in CORS_HEADERS.items()]
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*headers, (b"allow", b"GET, POST, OPTIONS"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, with_cors)


# --- shapes ------------------------------------------------------------------------------

class ActionParameter(BaseModel):
    name: str
    label: str
    required: bool = True
    type: str = "text"
    options: list[dict[str, str]] | None = None


class LinkedAction(BaseModel):
    type: Literal["transaction"] = "transaction"
    label: str
    href: str
    parameters: list[ActionParameter] = []


class ActionLinks(BaseModel):
    actions: list[LinkedAction]


class ActionMetadata(BaseModel):
    """The specification's ``ActionGetResponse``."""

    type: Literal["action"] = "action"
    icon: str
    title: str
    description: str
    label: str
    links: ActionLinks


class ActionRequest(BaseModel):
    account: str = Field(description="the wallet (base58) that signs and pays", min_length=32, max_length=44)


class ActionTransaction(BaseModel):
    """The specification's ``ActionPostResponse``, with what the service planned."""

    type: Literal["transaction"] = "transaction"
    transaction: str = Field(description="base64 of a legacy transaction; the wallet signs it (takes are "
                             "already signed by the market's matcher)")
    message: str
    order_address: str | None = Field(None, description="the order the transaction places, if it places one")
    planned_wh: int | None = Field(None, description="takes: energy the fills trade")
    fills: int | None = Field(None, description="takes: resting orders filled")


class ActionsRule(BaseModel):
    pathPattern: str
    apiPath: str


class ActionsJson(BaseModel):
    rules: list[ActionsRule]


# --- dependencies ----------------------------------------------------------------------------

def _chain(services: AppServices) -> Chain:
    if services.chain_handle is None or services.trading_desk is None:
        raise Conflict("no_chain", "this service runs without a chain: actions are off")
    return services.chain_handle


OpenChain = Annotated[Chain, Depends(_chain)]
MarketPath = Annotated[str, Path(max_length=44, description="market address (base58)")]


def _pubkey(text: str, what: str) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError as exc:
        raise ValidationFailed("invalid_address", f"{what} {text!r} is not a base58 address", field=what) from exc


def _market(services: AppServices, market: str) -> tuple[TradingDesk, MarketRef]:
    desk = services.trading_desk
    ref = desk.market(market) if desk is not None else None
    if desk is None or ref is None:
        raise NotFound("unknown_market", f"this service does not serve market {market}")
    return desk, ref


def _prepared(p: build.Prepared) -> ActionTransaction:
    return ActionTransaction(transaction=base64.b64encode(bytes(p.transaction)).decode(), message=p.message,
                             order_address=str(p.order_address) if p.order_address else None,
                             planned_wh=p.planned_wh if p.fills else None, fills=p.fills or None)


async def _run(coro: Any) -> ActionTransaction:
    return _prepared(await coro)


def _metadata(request: Request, title: str, description: str, label: str,
              links: list[LinkedAction]) -> ActionMetadata:
    return ActionMetadata(icon=str(request.url_for("action_icon")), title=title, description=description,
                          label=label, links=ActionLinks(actions=links))


def _param(name: str, label: str, type_: str = "number", required: bool = True,
           options: list[str] | None = None) -> ActionParameter:
    return ActionParameter(name=name, label=label, type=type_, required=required,
                           options=[{"label": o, "value": o} for o in options] if options else None)


# --- discovery ---------------------------------------------------------------------------------

@router.get("/actions.json", response_model=ActionsJson)
async def actions_json() -> ActionsJson:
    """Where this service's actions live (the Actions specification's discovery file)."""
    return ActionsJson(rules=[ActionsRule(pathPattern="/api/actions/**", apiPath="/api/actions/**")])


@router.get("/api/actions/icon.svg", name="action_icon", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
async def action_icon() -> Response:
    return Response(ICON_SVG, media_type="image/svg+xml")


# --- orders -------------------------------------------------------------------------------------

Side = Literal["buy", "sell"]
SIDE = {"buy": BID, "sell": ASK}
Price = Annotated[int, Query(gt=0, le=10**15, description="payment-token base units per kWh")]
Energy = Annotated[int, Query(gt=0, le=10**12, description="Wh (GRID base units)")]


@router.get("/api/actions/markets/{market}/order", response_model=ActionMetadata)
async def order_metadata(request: Request, market: MarketPath, services: AppServices) -> ActionMetadata:
    """A limit order: sell (ask) GRID or buy (bid) it at a price; it rests until filled,
    cancelled or expired."""
    _market(services, market)
    href = (f"/api/actions/markets/{market}/order?side={{side}}&price_per_kwh_micro={{price_per_kwh_micro}}"
            f"&energy_wh={{energy_wh}}")
    return _metadata(request, "Place an order", f"A limit order on market {market}: energy in Wh, price in "
                     "payment-token base units per kWh.", "Place order", [LinkedAction(label="Place order", href=href,
                     parameters=[_param("side", "buy or sell", "select", options=["buy", "sell"]),
                                 _param("price_per_kwh_micro", "price per kWh"), _param("energy_wh", "energy (Wh)")])])


@router.post("/api/actions/markets/{market}/order", response_model=ActionTransaction)
async def order_transaction(body: ActionRequest, market: MarketPath, services: AppServices, chain: OpenChain,
                            side: Side, price_per_kwh_micro: Price, energy_wh: Energy,
                            expires_in_s: int = Query(0, ge=0, le=10**9, description="0: good until cancelled")
                            ) -> ActionTransaction:
    desk, ref = _market(services, market)
    expires_at = await build.chain_time(chain.backend) + expires_in_s if expires_in_s else 0
    order_id = await _reserve(services, chain, desk, ref)
    return await _sequenced(services, ref, order_id, build.place(
        chain.backend, desk.trading, ref, _pubkey(body.account, "account"), side=SIDE[side],
        price_per_kwh=price_per_kwh_micro, size_wh=energy_wh, expires_at=expires_at, order_id=order_id))


async def _reserve(services: AppServices, chain: Chain, desk: TradingDesk, ref: MarketRef) -> int:
    """The next order id in sequence (:mod:`aggregator.actions.sequencer`)."""
    return services.order_sequencer.reserve(ref.address, await build.next_order_id(chain.backend, desk.trading, ref))


async def _sequenced(services: AppServices, ref: MarketRef, order_id: int, coro: Any) -> ActionTransaction:
    try:
        prepared = await coro
    except Exception:
        services.order_sequencer.release(ref.address, order_id)
        raise
    if prepared.order_address is not None:
        services.order_sequencer.record(ref.address, prepared.order_address, order_id)
    return _prepared(prepared)


@router.get("/api/actions/markets/{market}/orders/{order}/cancel", response_model=ActionMetadata)
async def cancel_metadata(request: Request, market: MarketPath, order: Annotated[str, Path(max_length=44)],
                          services: AppServices) -> ActionMetadata:
    """Cancel one of your open orders: its unfilled escrow and rent come back."""
    _market(services, market)
    return _metadata(request, "Cancel order", f"Cancel order {order}; the escrow goes back to you.", "Cancel",
                     [LinkedAction(label="Cancel", href=f"/api/actions/markets/{market}/orders/{order}/cancel")])


@router.post("/api/actions/markets/{market}/orders/{order}/cancel", response_model=ActionTransaction)
async def cancel_transaction(body: ActionRequest, market: MarketPath, order: Annotated[str, Path(max_length=44)],
                             services: AppServices, chain: OpenChain) -> ActionTransaction:
    desk, ref = _market(services, market)
    return await _run(build.cancel(chain.backend, desk.trading, ref, _pubkey(body.account, "account"),
                                   _pubkey(order, "order")))


def _take_metadata(request: Request, market: str, side: Side) -> ActionMetadata:
    verb, limit = ("Buy", "max") if side == "buy" else ("Sell", "min")
    href = (f"/api/actions/markets/{market}/{side}-now?energy_wh={{energy_wh}}"
            f"&{limit}_price_per_kwh_micro={{{limit}_price_per_kwh_micro}}&order={{order}}")
    return _metadata(request, f"{verb} now", f"{verb} energy at once on market {market}, from the best resting "
                     "orders or one chosen order; whatever cannot fill now is returned, nothing rests.",
                     f"{verb} now", [LinkedAction(label=f"{verb} now", href=href, parameters=[
                         _param("energy_wh", "energy (Wh)"),
                         _param(f"{limit}_price_per_kwh_micro", f"{limit} price per kWh", required=False),
                         _param("order", "a chosen order's address", "text", required=False)])])


async def _take(services: AppServices, chain: Chain, pool: Any, market: str, account: str, side: Side,
                energy_wh: int, limit: int | None, order: str | None) -> ActionTransaction:
    desk, ref = _market(services, market)
    if desk.matcher is None or ref.matcher != desk.matcher.pubkey():
        raise Conflict("not_matched_here", f"this service does not hold market {market}'s matcher key, so it cannot "
                       "settle a take; place a limit order instead")
    account_data = await chain.backend.account(ref.address)
    m = desk.trading.decode(bytes(account_data.data)) if account_data is not None else None
    if m is None:
        raise NotFound("unknown_market", f"market {market} has no account on chain")
    if m.auction_slot_secs:
        raise Conflict("auction_market", "an auction market clears once per slot; place a limit order instead")
    async with pool.acquire() as conn:
        candidates = await trading_repo.open_order_addresses(conn, market)
    order_id = services.order_sequencer.reserve(ref.address, m.next_order_id)
    return await _sequenced(services, ref, order_id, build.take(
        chain.backend, desk.trading, ref, desk.matcher, _pubkey(account, "account"), side=SIDE[side],
        size_wh=energy_wh, limit_per_kwh=limit, candidates=candidates, lot_size_wh=m.lot_size_wh,
        chosen=_pubkey(order, "order") if order else None, order_id=order_id))


OptionalOrder = Annotated[str | None, Query(max_length=44, description="take only this resting order")]
OptionalPrice = Annotated[int | None, Query(gt=0, le=10**15)]


@router.get("/api/actions/markets/{market}/buy-now", response_model=ActionMetadata)
async def buy_now_metadata(request: Request, market: MarketPath, services: AppServices) -> ActionMetadata:
    """Buy now (immediate-or-cancel) against the book or one chosen ask."""
    _market(services, market)
    return _take_metadata(request, market, "buy")


@router.post("/api/actions/markets/{market}/buy-now", response_model=ActionTransaction)
async def buy_now_transaction(body: ActionRequest, market: MarketPath, services: AppServices, chain: OpenChain,
                              pool: Pool, energy_wh: Energy, max_price_per_kwh_micro: OptionalPrice = None,
                              order: OptionalOrder = None) -> ActionTransaction:
    return await _take(services, chain, pool, market, body.account, "buy", energy_wh, max_price_per_kwh_micro, order)


@router.get("/api/actions/markets/{market}/sell-now", response_model=ActionMetadata)
async def sell_now_metadata(request: Request, market: MarketPath, services: AppServices) -> ActionMetadata:
    """Sell now (immediate-or-cancel) against the book or one chosen bid."""
    _market(services, market)
    return _take_metadata(request, market, "sell")


@router.post("/api/actions/markets/{market}/sell-now", response_model=ActionTransaction)
async def sell_now_transaction(body: ActionRequest, market: MarketPath, services: AppServices, chain: OpenChain,
                               pool: Pool, energy_wh: Energy, min_price_per_kwh_micro: OptionalPrice = None,
                               order: OptionalOrder = None) -> ActionTransaction:
    return await _take(services, chain, pool, market, body.account, "sell", energy_wh, min_price_per_kwh_micro, order)


# --- balances in the market ------------------------------------------------------------------------

Asset = Literal["grid", "payment"]
Amount = Annotated[int, Query(gt=0, le=10**15, description="base units: Wh for GRID, payment-token base units")]


def _funds_metadata(request: Request, market: str, verb: str) -> ActionMetadata:
    lower = verb.lower()
    return _metadata(request, f"{verb} funds", f"{verb} GRID or payment tokens ({lower} your balance account in "
                     f"market {market}; orders can spend it without a token transfer).", verb,
                     [LinkedAction(label=verb, href=f"/api/actions/markets/{market}/{lower}?asset={{asset}}"
                                   "&amount={amount}", parameters=[
                                       _param("asset", "grid or payment", "select", options=["grid", "payment"]),
                                       _param("amount", "amount (base units)")])])


@router.get("/api/actions/markets/{market}/deposit", response_model=ActionMetadata)
async def deposit_metadata(request: Request, market: MarketPath, services: AppServices) -> ActionMetadata:
    _market(services, market)
    return _funds_metadata(request, market, "Deposit")


@router.post("/api/actions/markets/{market}/deposit", response_model=ActionTransaction)
async def deposit_transaction(body: ActionRequest, market: MarketPath, services: AppServices, chain: OpenChain,
                              asset: Asset, amount: Amount) -> ActionTransaction:
    desk, ref = _market(services, market)
    return await _run(build.move_funds(chain.backend, desk.trading, ref, _pubkey(body.account, "account"),
                                       deposit=True, asset=asset, amount=amount))


@router.get("/api/actions/markets/{market}/withdraw", response_model=ActionMetadata)
async def withdraw_metadata(request: Request, market: MarketPath, services: AppServices) -> ActionMetadata:
    _market(services, market)
    return _funds_metadata(request, market, "Withdraw")


@router.post("/api/actions/markets/{market}/withdraw", response_model=ActionTransaction)
async def withdraw_transaction(body: ActionRequest, market: MarketPath, services: AppServices, chain: OpenChain,
                               asset: Asset, amount: Amount) -> ActionTransaction:
    desk, ref = _market(services, market)
    return await _run(build.move_funds(chain.backend, desk.trading, ref, _pubkey(body.account, "account"),
                                       deposit=False, asset=asset, amount=amount))


# --- certificates ---------------------------------------------------------------------------------------

CertificatePath = Annotated[str, Path(max_length=44, description="certificate address (base58)")]


def _certificates(services: AppServices) -> tuple[Any, Any]:
    """The certificates program and the chain backend (a refusal when the service runs without a chain)."""
    if services.certificate_desk is None or services.chain_handle is None:
        raise Conflict("no_chain", "this service runs without a chain: certificates are off")
    return services.certificate_desk.certificates, services.chain_handle.backend


@router.get("/api/actions/certificates/{certificate}/transfer", response_model=ActionMetadata)
async def transfer_metadata(request: Request, certificate: CertificatePath) -> ActionMetadata:
    """Hand a certificate you hold to another wallet."""
    return _metadata(request, "Transfer certificate", f"Transfer certificate {certificate} to another wallet.",
                     "Transfer", [LinkedAction(label="Transfer", href=f"/api/actions/certificates/{certificate}/"
                                               "transfer?to={to}", parameters=[_param("to", "new holder", "text")])])


@router.post("/api/actions/certificates/{certificate}/transfer", response_model=ActionTransaction)
async def transfer_transaction(body: ActionRequest, certificate: CertificatePath, services: AppServices,
                               to: Annotated[str, Query(max_length=44)]) -> ActionTransaction:
    certificates, backend = _certificates(services)
    return await _run(build.certificate_action(backend, certificates,
                                               _pubkey(body.account, "account"), _pubkey(certificate, "certificate"),
                                               retire=False, new_owner=_pubkey(to, "to")))


@router.get("/api/actions/certificates/{certificate}/retire", response_model=ActionMetadata)
async def retire_metadata(request: Request, certificate: CertificatePath) -> ActionMetadata:
    """Retire a certificate you hold: its energy is claimed for good."""
    return _metadata(request, "Retire certificate", f"Retire certificate {certificate}.", "Retire",
                     [LinkedAction(label="Retire", href=f"/api/actions/certificates/{certificate}/retire")])


@router.post("/api/actions/certificates/{certificate}/retire", response_model=ActionTransaction)
async def retire_transaction(body: ActionRequest, certificate: CertificatePath,
                             services: AppServices) -> ActionTransaction:
    certificates, backend = _certificates(services)
    return await _run(build.certificate_action(backend, certificates,
                                               _pubkey(body.account, "account"), _pubkey(certificate, "certificate"),
                                               retire=True))
