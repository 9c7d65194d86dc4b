"""``gtx-trader``: trade energy on a GridTokenX aggregator from the command line.

Energy is given in kWh and prices in payment tokens per kWh (decimals welcome:
``sell 1.5 --price 0.12``); the service's base units are Wh and millionths of a token.
The wallet is a Solana CLI keypair file (``--keypair``, or ``GTX_TRADER_KEYPAIR``); it
signs every transaction here and never leaves this machine. ``--json`` prints the
service's answers as JSON instead of tables.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gtx_trader.client import PAYMENT_DECIMALS, Sent, TraderClient, TraderError, iter_live, load_keypair

HELP = ("Trade energy on a GridTokenX aggregator. Energy in kWh, prices in payment tokens per kWh (decimals "
        "welcome: sell 1.5 --price 0.12). Your wallet is a Solana CLI keypair file (--keypair or "
        "GTX_TRADER_KEYPAIR); it signs every transaction on this machine and never leaves it.")
app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
certificates_app = typer.Typer(help="Renewable energy certificates you hold: list, transfer, retire.",
                               no_args_is_help=True)
app.add_typer(certificates_app, name="certificates")
out = Console(width=None if sys.stdout.isatty() else 160)  # piped: wide enough for addresses
err = Console(stderr=True)


class State:
    url: str = "http://127.0.0.1:8000"
    keypair: Path | None = None
    market: str | None = None
    as_json: bool = False


state = State()


@app.callback()
def main(url: str = typer.Option("http://127.0.0.1:8000", envvar="GTX_TRADER_URL", help="the aggregator's base URL"),
         keypair: Path | None = typer.Option(None, envvar="GTX_TRADER_KEYPAIR",
                                                help="your Solana CLI keypair file (JSON array of 64 bytes)"),
         market: str | None = typer.Option(None, envvar="GTX_TRADER_MARKET",
                                              help="market address (default: the service's first continuous market)"),
         as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables")) -> None:
    state.url, state.keypair, state.market, state.as_json = url, keypair, market, as_json


def client(needs_wallet: bool = True) -> TraderClient:
    wallet = None
    if state.keypair is not None:
        wallet = load_keypair(state.keypair)
    elif needs_wallet:
        raise TraderError("no_keypair", "this command needs your wallet: pass --keypair PATH "
                          "(or set GTX_TRADER_KEYPAIR)")
    return TraderClient(state.url, wallet, market=state.market)


# --- units -----------------------------------------------------------------------------------

def base_units(text: str, scale: int, what: str) -> int:
    try:
        value = Decimal(text) * scale
    except InvalidOperation as exc:
        raise TraderError("bad_number", f"{what} {text!r} is not a number") from exc
    if value <= 0 or value != value.to_integral_value():
        raise TraderError("bad_number", f"{what} {text!r} must be positive with at most {len(str(scale)) - 1} decimals")
    return int(value)


def wh(text: str) -> int:
    return base_units(text, 1000, "energy (kWh)")


def micro(text: str) -> int:
    return base_units(text, 10 ** PAYMENT_DECIMALS, "price (tokens per kWh)")


def kwh(value_wh: int | None) -> str:
    return "-" if value_wh is None else f"{Decimal(value_wh) / 1000:,.3f}"


def tokens(value: int | None) -> str:
    return "-" if value is None else f"{Decimal(value) / 10 ** PAYMENT_DECIMALS:,.6f}"


# --- output -------------------------------------------------------------------------------------

def emit(data: Any, table: Table | None = None, text: str | None = None) -> None:
    if state.as_json:
        print(json.dumps(data, default=str), flush=True)
    else:
        if table is not None:
            out.print(table)
        if text:
            out.print(text)


def table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, justify="right" if c.split(" ")[0].lower() in {"kwh", "price", "tokens", "value", "fee",
                                                                        "filled", "remaining", "orders", "cumulative"}
                     else "left")
    return t


def sent(s: Sent) -> None:
    data = {"signature": s.signature, "instructions": s.instructions, "message": s.message,
            "order_address": s.order_address, "planned_wh": s.planned_wh, "fills": s.fills}
    emit(data, text=f"[green]done[/green] {s.message}\n  signature {s.signature}"
         + (f"\n  order {s.order_address}" if s.order_address and s.fills is None else ""))


# --- commands ------------------------------------------------------------------------------------

@app.command()
def register(role: str = typer.Option(..., help="prosumer (you produce energy) or consumer"),
             name: str | None = typer.Option(None, help="a display name")) -> None:
    """Register your wallet with the aggregator (signs a one-time challenge)."""
    if role not in ("prosumer", "consumer"):
        raise TraderError("bad_role", "role is prosumer or consumer")
    with client() as c:
        user = c.register(role, name)  # type: ignore[arg-type]
    emit(user, text=f"[green]registered[/green] {user['wallet']} as {user['role']}")


@app.command()
def balance() -> None:
    """GRID and payment tokens: free, in open orders, in market balances; your production."""
    with client() as c:
        b = c.balances()
    t = table(f"Balances of {b['wallet']}", "Asset", "Free", "In orders", "In market", "Total")
    g = b["grid"]
    t.add_row("GRID (kWh)", kwh(g["free_wh"]), kwh(g["in_orders_wh"]), kwh(g["in_market_balances_wh"]),
              kwh(g["total_wh"]))
    for p in b["payment"]:
        t.add_row(f"payment {p['mint'][:8]}… (tokens)", tokens(p["free_micro"]), tokens(p["in_orders_micro"]),
                  tokens(p["in_market_balances_micro"]), tokens(p["total_micro"]))
    prod = b["production"]
    emit(b, t, f"production: {kwh(prod['minted_wh'])} kWh minted, {kwh(prod['pending_production_wh'])} kWh pending "
               f"({prod['meters']} meters); {b['open_orders']} open orders")


@app.command()
def markets() -> None:
    """The markets the aggregator serves."""
    with client(needs_wallet=False) as c:
        ms = c.markets()
    t = table("Markets", "Address", "Kind", "Fee bps", "Lot (Wh)", "Tick (tokens/kWh)", "Orders placed")
    for m in ms:
        t.add_row(m["address"], "auction" if m["auction_slot_secs"] else "continuous", str(m["fee_bps"]),
                  str(m["lot_size_wh"]), tokens(m["tick_size_per_kwh_micro"]), str(m["next_order_id"]))
    emit(ms, t)


@app.command()
def book(levels: int = typer.Option(10, help="price levels per side")) -> None:
    """The order book by price level (best first) and the last 24 hours."""
    with client(needs_wallet=False) as c:
        d, s = c.depth(levels), c.stats()
    t = table(f"Order book {d['market']}", "Side", "Price (tokens/kWh)", "kWh", "Cumulative kWh", "Orders")
    for lv in reversed(d["asks"]):
        t.add_row("[red]sell[/red]", tokens(lv["price_per_kwh_micro"]), kwh(lv["energy_wh"]), kwh(lv["cumulative_wh"]),
                  str(lv["orders"]))
    for lv in d["bids"]:
        t.add_row("[green]buy[/green]", tokens(lv["price_per_kwh_micro"]), kwh(lv["energy_wh"]),
                  kwh(lv["cumulative_wh"]), str(lv["orders"]))
    emit({"depth": d, "stats": s}, t, f"24 h: last {tokens(s['last'])}, high {tokens(s['high'])}, low "
         f"{tokens(s['low'])}, volume {kwh(s['volume_wh'])} kWh in {s['trades']} trades")


def _trade(side: str, energy: str, price: str | None, now: bool, limit: str | None, order: str | None,
           expires_in: int) -> None:
    with client() as c:
        if now:
            s = c.take(side, wh(energy), micro(limit) if limit else None, order)  # type: ignore[arg-type]
        else:
            if price is None:
                raise TraderError("no_price", "a limit order needs --price (or use --now to trade at once)")
            s = c.place(side, wh(energy), micro(price), expires_in)  # type: ignore[arg-type]
    sent(s)


@app.command()
def sell(energy: str = typer.Argument(..., help="kWh to sell"),
         price: str | None = typer.Option(None, help="limit price, tokens per kWh (a resting order)"),
         now: bool = typer.Option(False, "--now", help="sell at once to the best bids; the rest is returned"),
         min_price: str | None = typer.Option(None, help="with --now: lowest price accepted"),
         order: str | None = typer.Option(None, help="with --now: sell to this bid only"),
         expires_in: int = typer.Option(0, help="seconds the order rests (0: until cancelled)")) -> None:
    """Sell GRID: a limit order at --price, or --now against the book or a chosen bid."""
    _trade("sell", energy, price, now, min_price, order, expires_in)


@app.command()
def buy(energy: str = typer.Argument(..., help="kWh to buy"),
        price: str | None = typer.Option(None, help="limit price, tokens per kWh (a resting order)"),
        now: bool = typer.Option(False, "--now", help="buy at once from the best asks; the rest is returned"),
        max_price: str | None = typer.Option(None, help="with --now: highest price accepted"),
        order: str | None = typer.Option(None, help="with --now: buy from this ask only"),
        expires_in: int = typer.Option(0, help="seconds the order rests (0: until cancelled)")) -> None:
    """Buy GRID: a limit order at --price, or --now against the book or a chosen ask."""
    _trade("buy", energy, price, now, max_price, order, expires_in)


@app.command()
def cancel(order: str = typer.Argument(..., help="the order's address")) -> None:
    """Cancel one of your open orders; its escrow comes back."""
    with client() as c:
        sent(c.cancel(order))


@app.command()
def orders(status: str | None = typer.Option(None, help="open, partially_filled, filled, cancelled, expired"),
           limit: int = 50) -> None:
    """Your orders in the market, newest first."""
    with client() as c:
        rows = c.orders(status, limit)
    t = table("Your orders", "Order", "Side", "Price (tokens/kWh)", "kWh", "Filled kWh", "Status")
    for o in rows:
        t.add_row(o["order_address"], o["side"], tokens(o["price_per_kwh_micro"]), kwh(o["energy_wh"]),
                  kwh(o["filled_wh"]), o["status"])
    emit(rows, t)


@app.command()
def trades(limit: int = 50) -> None:
    """Your fills in the market, newest first."""
    with client() as c:
        me, rows = c.address, c.trades(limit)
    t = table("Your trades", "When", "Side", "kWh", "Price (tokens/kWh)", "Value (tokens)", "Fee (tokens)")
    for r in rows:
        side = "buy" if r["buyer_wallet"] == me else "sell"
        t.add_row(str(r["executed_at"])[:19], side, kwh(r["energy_wh"]), tokens(r["price_per_kwh_micro"]),
                  tokens(r["value_micro"]), tokens(r["fee_micro"]) if side == "sell" else "-")
    emit(rows, t)


@app.command()
def history(kind: str | None = typer.Option(None, help="mint, fill, fee, refund or certificate"),
            limit: int = 50) -> None:
    """Your mints, fills, fees, refunds and certificates, newest first."""
    with client() as c:
        rows = c.history(kind, limit)
    t = table("History", "When", "Kind", "kWh", "Tokens", "What")
    for h in rows:
        t.add_row(str(h["at"])[:19], h["kind"], kwh(h["energy_wh"]), tokens(h["payment_micro"]), h["description"])
    emit(rows, t)


@app.command()
def statement(period: str = typer.Option("day", help="day or month"),
              csv: bool = typer.Option(False, "--csv", help="print CSV (for a spreadsheet)")) -> None:
    """Your earnings per day or month: minted, sold, bought, revenue, fees, net."""
    if period not in ("day", "month"):
        raise TraderError("bad_period", "period is day or month")
    with client() as c:
        if csv:
            sys.stdout.write(c.statement_csv(period))  # type: ignore[arg-type]
            return
        st = c.statement(period)  # type: ignore[arg-type]
    t = table(f"Statement per {period}", "Period", "Minted kWh", "Sold kWh", "Bought kWh", "Revenue (tokens)",
              "Fees (tokens)", "Spent (tokens)", "Net (tokens)")
    for r in [*st["rows"], st["totals"]]:
        t.add_row(r["period"], kwh(r["minted_wh"]), kwh(r["sold_wh"]), kwh(r["bought_wh"]), tokens(r["revenue_micro"]),
                  tokens(r["fees_micro"]), tokens(r["spent_micro"]), tokens(r["net_micro"]))
    emit(st, t)


@app.command()
def deposit(asset: str = typer.Argument(..., help="grid or payment"),
            amount: str = typer.Argument(..., help="kWh of GRID or payment tokens")) -> None:
    """Move GRID or payment tokens into your balance in the market."""
    _funds(asset, amount, deposit=True)


@app.command()
def withdraw(asset: str = typer.Argument(..., help="grid or payment"),
             amount: str = typer.Argument(..., help="kWh of GRID or payment tokens")) -> None:
    """Take GRID or payment tokens out of your balance in the market."""
    _funds(asset, amount, deposit=False)


def _funds(asset: str, amount: str, *, deposit: bool) -> None:
    if asset not in ("grid", "payment"):
        raise TraderError("bad_asset", "asset is grid or payment")
    units = wh(amount) if asset == "grid" else micro(amount)
    with client() as c:
        sent((c.deposit if deposit else c.withdraw)(asset, units))  # type: ignore[arg-type]


@certificates_app.command("list")
def certificates_list() -> None:
    """Certificates you hold."""
    with client() as c:
        rows = c.certificates()
    t = table("Your certificates", "Certificate", "Meter", "kWh", "Source", "Status")
    for r in rows:
        t.add_row(r["address"], r["meter_id"], kwh(r["energy_wh"]), r["source"], r["status"])
    emit(rows, t)


@certificates_app.command("transfer")
def certificates_transfer(certificate: str, to: str = typer.Argument(..., help="the new holder's wallet")) -> None:
    """Hand a certificate to another wallet."""
    with client() as c:
        sent(c.transfer_certificate(certificate, to))


@certificates_app.command("retire")
def certificates_retire(certificate: str) -> None:
    """Retire a certificate (claim its energy for good)."""
    with client() as c:
        sent(c.retire_certificate(certificate))


@app.command()
def watch(trades_only: bool = typer.Option(False, "--trades", help="print trades only, not book changes"),
          count: int = typer.Option(0, help="stop after this many trades (0: never)"),
          timeout: float | None = typer.Option(None, help="stop after this many seconds without a message")) -> None:
    """Follow the market live: the book snapshot, its changes, and every trade."""
    from websockets.exceptions import ConnectionClosed

    with client(needs_wallet=False) as c:
        url = c.live_url()
    seen = 0
    try:
        for msg in iter_live(url, timeout):
            if state.as_json:
                if not trades_only or msg["type"] == "trade":
                    print(json.dumps(msg), flush=True)
            elif msg["type"] == "snapshot" and not trades_only:
                out.print(f"[bold]book[/bold] seq 0: {len(msg['bids'])} bid levels, {len(msg['asks'])} ask levels")
            elif msg["type"] == "book" and not trades_only:
                for ch in msg["changes"]:
                    out.print(f"book seq {msg['seq']}: {ch['side']} {tokens(ch['price_per_kwh_micro'])} -> "
                              f"{kwh(ch['energy_wh'])} kWh ({ch['orders']} orders)")
            elif msg["type"] == "trade":
                out.print(f"[bold]trade[/bold] {kwh(msg['energy_wh'])} kWh at {tokens(msg['price_per_kwh_micro'])} "
                          f"(buyer {msg['buyer_wallet'][:8]}…, seller {msg['seller_wallet'][:8]}…)")
            elif msg["type"] == "error":
                raise TraderError(msg["reason"], msg["message"])
            if msg["type"] == "trade":
                seen += 1
                if count and seen >= count:
                    return
    except ConnectionClosed as exc:
        raise TraderError("live_closed", f"the live channel closed: {exc}") from exc
    except OSError as exc:
        raise TraderError("unreachable", f"cannot reach the aggregator at {state.url}: {exc}") from exc


def run() -> None:
    """Entry point: refusals print their reason and exit 1 (no traceback)."""
    try:
        app()
    except TraderError as exc:
        err.print(f"[red]error[/red] {exc.reason}: {exc.message}")
        if exc.detail:
            err.print(f"  {json.dumps(exc.detail)}")
        sys.exit(1)
