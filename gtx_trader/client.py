"""A typed client of the GridTokenX aggregator for traders, over HTTP only.

The wallet's key stays here: the service answers unsigned transactions (its Solana
Actions, ``/api/actions/...``), this client signs them with the wallet's keypair and
relays them (``POST /api/transactions``); registration signs the service's one-time
challenge. It imports nothing of the service: only the HTTP API is shared.

A wallet's balances, history, statement, orders and own trades are private: the client
asks for a read token when it first needs one (``POST /api/auth/challenge`` with purpose
``read_token``, the wallet's signature, ``POST /api/auth/token``), keeps it until shortly
before it expires, and sends it as ``Authorization: Bearer <token>`` on those reads only.

Units on the wire: energy in Wh (GRID base units, 1 GRID = 1 kWh), prices in payment
token base units per kWh, amounts in payment token base units (6 decimals).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from solders.keypair import Keypair
from solders.transaction import Transaction

Side = Literal["buy", "sell"]
PAYMENT_DECIMALS = 6
Json = dict[str, Any]
#: A read token is renewed this long before it expires (clock skew, a slow request).
TOKEN_MARGIN_S = 60


class TraderError(Exception):
    """The service refused a request (``reason`` is its stable code) or could not be reached."""

    def __init__(self, reason: str, message: str, status: int | None = None,
                 detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message, self.status, self.detail = reason, message, status, dict(detail or {})


def load_keypair(path: str | Path) -> Keypair:
    """A Solana CLI keypair file: a JSON array of the 64 secret-key bytes."""
    p = Path(path).expanduser()
    try:
        raw = json.loads(p.read_text())
        return Keypair.from_bytes(bytes(raw))
    except FileNotFoundError as exc:
        raise TraderError("keypair_not_found", f"no keypair file at {p}") from exc
    except (ValueError, TypeError) as exc:
        raise TraderError("bad_keypair", f"{p} is not a Solana CLI keypair file (a JSON array of 64 bytes)") from exc


def save_keypair(kp: Keypair, path: str | Path) -> None:
    Path(path).write_text(json.dumps(list(bytes(kp))))


def signing_message(purpose: str, wallet: str, nonce: str, fields: Mapping[str, str]) -> bytes:
    """The challenge text the service asks a wallet to sign (its documented layout)."""
    lines = [f"GridTokenX {purpose}", f"wallet: {wallet}", f"nonce: {nonce}"]
    lines += [f"{k}: {v}" for k, v in sorted(fields.items())]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class Sent:
    """A transaction the wallet signed and the service relayed."""

    signature: str
    instructions: list[str]
    message: str
    order_address: str | None = None
    planned_wh: int | None = None
    fills: int | None = None


class TraderClient:
    """One wallet's view of one aggregator (``base_url``); ``market`` defaults to the first
    continuous market the service serves."""

    def __init__(self, base_url: str, wallet: Keypair | None = None, *, market: str | None = None,
                 timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.wallet = wallet
        self._market = market
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)
        self._token: tuple[str, int] | None = None  # (token, expires_at unix s)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TraderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------------------------
    @property
    def address(self) -> str:
        if self.wallet is None:
            raise TraderError("no_keypair", "this command needs a wallet: pass --keypair (a Solana CLI keypair file)")
        return str(self.wallet.pubkey())

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise TraderError("unreachable", f"cannot reach the aggregator at {self.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
                message = err.get("message", err["reason"])
                raise TraderError(err["reason"], message, resp.status_code, err.get("detail"))
            except (ValueError, KeyError, TypeError):
                detail = f"HTTP {resp.status_code}: {resp.text[:200]}"
                raise TraderError("http_error", detail, resp.status_code) from None
        return resp

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def read_token(self, *, renew: bool = False) -> str:
        """The wallet's read token, asked for on first use and kept until shortly before it expires."""
        if not renew and self._token is not None and self._token[1] - TOKEN_MARGIN_S > time.time():
            return self._token[0]
        wallet = self.address
        assert self.wallet is not None
        nonce = self._request("POST", "/api/auth/challenge",
                              json={"wallet": wallet, "purpose": "read_token"}).json()["nonce"]
        signature = self.wallet.sign_message(signing_message("read_token", wallet, nonce, {}))
        body = self._request("POST", "/api/auth/token",
                             json={"wallet": wallet, "nonce": nonce, "signature": str(signature)}).json()
        self._token = (str(body["token"]), int(body["expires_at"]))
        return self._token[0]

    def _private(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request for the wallet's private data, with its read token (renewed once if the
        service no longer accepts the kept one)."""
        headers = {"Authorization": f"Bearer {self.read_token()}"}
        try:
            return self._request(method, path, headers=headers, **kw)
        except TraderError as exc:
            if exc.status != 401 or exc.reason not in ("token_invalid", "token_expired"):
                raise
        return self._request(method, path, headers={"Authorization": f"Bearer {self.read_token(renew=True)}"}, **kw)

    def _private_get(self, path: str, **params: Any) -> Any:
        return self._private("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def sign(self, transaction_b64: str) -> str:
        """Add the wallet's signature to a (possibly partly signed) transaction."""
        if self.wallet is None:
            raise TraderError("no_keypair", "signing needs a wallet keypair")
        tx = Transaction.from_bytes(base64.b64decode(transaction_b64))
        tx.partial_sign([self.wallet], tx.message.recent_blockhash)
        return base64.b64encode(bytes(tx)).decode()

    def relay(self, transaction_b64: str) -> Json:
        return self._request("POST", "/api/transactions", json={"transaction": transaction_b64}).json()

    def act(self, path: str, **params: Any) -> Sent:
        """Ask the service's action at `path` for a transaction, sign it, relay it."""
        body = self._request("POST", f"/api/actions/{path}", params={k: v for k, v in params.items() if v is not None},
                             json={"account": self.address}).json()
        sent = self.relay(self.sign(body["transaction"]))
        return Sent(sent["signature"], sent["instructions"], body["message"], body.get("order_address"),
                    body.get("planned_wh"), body.get("fills"))

    # --- markets ----------------------------------------------------------------------------
    def markets(self) -> list[Json]:
        return self._get("/api/markets")

    @property
    def market(self) -> str:
        if self._market is None:
            markets = self.markets()
            continuous = [m for m in markets if m["auction_slot_secs"] == 0] or markets
            if not continuous:
                raise TraderError("no_market", "the service serves no market")
            self._market = continuous[0]["address"]
        return self._market

    def depth(self, levels: int = 20) -> Json:
        return self._get(f"/api/markets/{self.market}/depth", levels=levels)

    def market_trades(self, limit: int = 50) -> list[Json]:
        return self._get(f"/api/markets/{self.market}/trades", limit=limit)

    def stats(self) -> Json:
        return self._get(f"/api/markets/{self.market}/stats")

    def candles(self, interval: str = "1h", limit: int = 48) -> Json:
        return self._get(f"/api/markets/{self.market}/candles", interval=interval, limit=limit)

    # --- the wallet ---------------------------------------------------------------------------
    def register(self, role: Literal["prosumer", "consumer"], display_name: str | None = None) -> Json:
        assert self.wallet is not None
        wallet = self.address
        challenge = self._request("POST", "/api/auth/challenge", json={"wallet": wallet, "purpose": "register_user"})
        nonce = challenge.json()["nonce"]
        # The display name is signed too when given, so no relay can add, change or drop it.
        fields = {"role": role} if display_name is None else {"role": role, "display_name": display_name}
        signature = self.wallet.sign_message(signing_message("register_user", wallet, nonce, fields))
        return self._request("POST", "/api/users", json={"wallet": wallet, "role": role, "display_name": display_name,
                                                         "nonce": nonce, "signature": str(signature)}).json()

    def balances(self, wallet: str | None = None) -> Json:
        """The wallet's holdings (another wallet's only when this one is the operator or an admin)."""
        return self._private_get(f"/api/wallets/{wallet or self.address}/balances")

    def history(self, kind: str | None = None, limit: int = 50) -> list[Json]:
        return self._private_get(f"/api/wallets/{self.address}/history", kind=kind, limit=limit)

    def statement(self, period: Literal["day", "month"] = "day") -> Json:
        return self._private_get(f"/api/wallets/{self.address}/statement", period=period)

    def statement_csv(self, period: Literal["day", "month"] = "day") -> str:
        return self._private("GET", f"/api/wallets/{self.address}/statement",
                             params={"period": period, "format": "csv"}).text

    def orders(self, status: str | None = None, limit: int = 50) -> list[Json]:
        return self._private_get("/api/orders", owner=self.address, market=self.market, status=status, limit=limit)

    def trades(self, limit: int = 50) -> list[Json]:
        return self._private_get("/api/trades", owner=self.address, market=self.market, limit=limit)

    def certificates(self) -> list[Json]:
        return self._get("/api/certificates", owner=self.address)

    # --- trading ---------------------------------------------------------------------------------
    def place(self, side: Side, energy_wh: int, price_per_kwh_micro: int, expires_in_s: int = 0) -> Sent:
        """A limit order that rests until filled, cancelled or expired."""
        return self.act(f"markets/{self.market}/order", side=side, energy_wh=energy_wh,
                        price_per_kwh_micro=price_per_kwh_micro, expires_in_s=expires_in_s or None)

    def take(self, side: Side, energy_wh: int, limit_per_kwh_micro: int | None = None,
             order: str | None = None) -> Sent:
        """Buy or sell now (immediate-or-cancel) against the book or one chosen order."""
        limit_name = "max_price_per_kwh_micro" if side == "buy" else "min_price_per_kwh_micro"
        return self.act(f"markets/{self.market}/{side}-now", energy_wh=energy_wh, order=order,
                        **{limit_name: limit_per_kwh_micro})

    def cancel(self, order: str) -> Sent:
        return self.act(f"markets/{self.market}/orders/{order}/cancel")

    def deposit(self, asset: Literal["grid", "payment"], amount: int) -> Sent:
        return self.act(f"markets/{self.market}/deposit", asset=asset, amount=amount)

    def withdraw(self, asset: Literal["grid", "payment"], amount: int) -> Sent:
        return self.act(f"markets/{self.market}/withdraw", asset=asset, amount=amount)

    def transfer_certificate(self, certificate: str, to: str) -> Sent:
        return self.act(f"certificates/{certificate}/transfer", to=to)

    def retire_certificate(self, certificate: str) -> Sent:
        return self.act(f"certificates/{certificate}/retire")

    # --- live -------------------------------------------------------------------------------------
    def live_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + \
            f"/api/markets/{self.market}/live"


def iter_live(url: str, timeout_s: float | None = None) -> Iterator[Json]:
    """Messages of the live channel at `url` (blocking), until it closes or `timeout_s` of silence."""
    from websockets.sync.client import connect

    with connect(url, open_timeout=10) as ws:
        while True:
            try:
                raw = ws.recv(timeout=timeout_s)
            except TimeoutError:
                return
            yield json.loads(raw)
