"""The day's summary, its conservation checks, a chart and a static HTML report.

Per participant and for the community: energy produced and consumed on site (the site
profile's own record), exported and imported (the signed readings), GRID minted (the
aggregator's reconciliation and the chain), GRID sold and bought, payment tokens earned
and paid, fees, certificates issued, received and retired.

Checks (each one printed; any failure makes the demo exit non-zero):

- mint rule: per meter, GRID minted = signed export of the accepted readings (the
  reconciliation's difference is 0), and the GRID on chain (wallets + market vaults)
  equals the sum;
- GRID conserved across trades: each wallet holds minted + bought - sold - what rests in
  its open asks;
- money conserved: payments by buyers = proceeds of sellers + fees; the fee account
  holds the fees; wallets + market vaults + fee account = the deposits issued;
- certificates: certified energy <= eligible (minted production) per meter.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aggregator.services import services_of
from aggregator.trading import TradingDesk
from demo.fleet import DAY_S, Participant
from demo.market import PAYMENT_LABEL, Traders
from demo.services import Aggregator

__all__ = ["Report", "build_report"]

PAY = 10**6


@dataclass
class Row:
    name: str
    kind: str
    meter: str
    driver: str
    produced_wh: int = 0
    consumed_wh: int = 0
    exported_wh: int = 0
    imported_wh: int = 0
    minted_wh: int = 0
    sold_wh: int = 0
    bought_wh: int = 0
    earned: int = 0  # payment base units, value - fee
    paid: int = 0
    fees: int = 0
    certs_issued: int = 0
    certs_received: int = 0
    certs_retired: int = 0
    certified_wh: int = 0


@dataclass
class Report:
    rows: list[Row]
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    hourly_export: list[int] = field(default_factory=lambda: [0] * 24)
    hourly_import: list[int] = field(default_factory=lambda: [0] * 24)
    auction_prices: list[tuple[float, int]] = field(default_factory=list)  # (sim hour, price)
    continuous_prices: list[tuple[float, int]] = field(default_factory=list)

    def total(self) -> Row:
        t = Row("community", f"{len(self.rows)} households", "", "")
        for r in self.rows:
            for name in ("produced_wh", "consumed_wh", "exported_wh", "imported_wh", "minted_wh", "sold_wh",
                         "bought_wh", "earned", "paid", "fees", "certs_issued", "certs_received", "certs_retired",
                         "certified_wh"):
                setattr(t, name, getattr(t, name) + getattr(r, name))
        return t

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def render(self, console: Console, out: Path) -> bool:
        table = Table(title=f"Daily summary (energy in kWh; money in payment tokens: {PAYMENT_LABEL})")
        for col in ("participant", "site", "read by", "produced", "consumed", "exported", "imported", "minted",
                    "sold", "bought", "earned", "paid", "fees", "certs i/r/x"):
            table.add_column(col, justify="left" if col in ("participant", "site", "read by") else "right")
        for r in [*self.rows, self.total()]:
            table.add_row(*cells(r), end_section=r is self.rows[-1])
        console.print(table)
        for name, ok, detail in self.checks:
            console.print(f"{'[green]ok  [/]' if ok else '[red]FAIL[/]'} {name}: {detail}")
        chart = out / "community-day.png"
        self.chart(chart)
        page = out / "community-day.html"
        page.write_text(self.html(chart.name))
        console.print(f"chart  {chart}\nreport {page}")
        if not self.ok:
            console.print("[red]a conservation check failed[/]")
        return self.ok

    def chart(self, path: Path) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 5))
        hours = list(range(24))
        ax.bar([h + 0.5 for h in hours], [w / 1000 for w in self.hourly_export], width=0.4, label="exported (kWh)",
               color="#f2a900")
        ax.bar([h + 0.9 for h in hours], [-w / 1000 for w in self.hourly_import], width=0.4,
               label="imported (kWh, below 0)", color="#4a7bd0")
        ax.set_xlabel("simulated hour of the day")
        ax.set_ylabel("community energy per hour (kWh)")
        ax.set_xlim(0, 24)
        ax2 = ax.twinx()
        if self.auction_prices:
            ax2.plot(*zip(*[(h, p / PAY) for h, p in self.auction_prices], strict=True), "o-", color="#c0392b",
                     label="auction clearing price")
        if self.continuous_prices:
            ax2.plot(*zip(*[(h, p / PAY) for h, p in self.continuous_prices], strict=True), "x", color="#27ae60",
                     label="continuous trade price")
        ax2.set_ylabel("price (payment tokens per kWh)")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
        ax.set_title("GridTokenX community day: energy and clearing prices")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def html(self, chart: str) -> str:
        head = ("participant", "site", "read by", "produced kWh", "consumed kWh", "exported kWh", "imported kWh",
                "minted GRID", "sold GRID", "bought GRID", "earned", "paid", "fees", "certs issued/received/retired")
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(r)) + "</tr>\n"
                       for r in [*self.rows, self.total()])
        checks = "".join(f"<li class={'ok' if ok else 'fail'}>{'ok' if ok else 'FAIL'} {html.escape(n)}: "
                         f"{html.escape(d)}</li>\n" for n, ok, d in self.checks)
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>GridTokenX community day</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} td:nth-child(-n+3){{text-align:left}}
tr:last-child{{font-weight:bold}} .ok{{color:#1a7f37}} .fail{{color:#c00}}</style></head>
<body><h1>GridTokenX community day</h1>
<p>Money is in the market's payment token ({html.escape(PAYMENT_LABEL)}).</p>
<img src="{chart}" alt="energy and clearing prices over the day">
<h2>Daily summary</h2>
<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>
{rows}</table>
<h2>Conservation checks</h2><ul>
{checks}</ul></body></html>
"""


def kwh(wh: int) -> str:
    return f"{wh / 1000:,.2f}"


def tok(units: int) -> str:
    return f"{units / PAY:,.4f}"


def cells(r: Row) -> list[str]:
    return [r.name, r.kind, r.driver, kwh(r.produced_wh), kwh(r.consumed_wh), kwh(r.exported_wh),
            kwh(r.imported_wh), kwh(r.minted_wh), kwh(r.sold_wh), kwh(r.bought_wh), tok(r.earned), tok(r.paid),
            tok(r.fees), f"{r.certs_issued}/{r.certs_received}/{r.certs_retired}"]


def site_energy(p: Participant) -> tuple[int, int]:
    """PV produced and household + EV consumed over the day, from the site profile (60 s steps)."""
    assert p.meter is not None
    site = p.meter.site
    produced = consumed = 0.0
    for t in range(30, DAY_S, 60):
        produced += site.solar.power_w(t) / 60
        consumed += (site.house.power_w(t) + site.ev.power_w(t)) / 60
    return round(produced), round(consumed)


async def build_report(agg: Aggregator, desk: TradingDesk, traders: Traders, people: list[Participant],
                       wall_start: float, acceleration: float, chain_t0: int) -> Report:
    pool = services_of(agg.app).pool
    rows = []
    by_wallet: dict[str, Row] = {}
    report = Report(rows)
    mint_rule_bad: list[str] = []
    cert_bad: list[str] = []
    async with pool.acquire() as conn:
        for p in people:
            row = Row(p.name, p.kind, p.meter_id, p.driver)
            row.produced_wh, row.consumed_wh = site_energy(p)
            audit = (await agg.client.get(f"/api/meters/{p.meter_id}/reconciliation")).json()
            sums = await conn.fetchrow("SELECT coalesce(sum(production_wh), 0) AS e, coalesce(sum(consumption_wh), 0) "
                                       "AS i FROM readings WHERE meter_id = $1", p.meter_id)
            row.exported_wh, row.imported_wh = int(sums["e"]), int(sums["i"])
            row.minted_wh = audit["minted_wh"]
            if audit["difference_wh"] != 0 or audit["due_wh"] != row.exported_wh or audit["pending_wh"]:
                mint_rule_bad.append(f"{p.meter_id}: due {audit['due_wh']}, minted {audit['minted_wh']}, "
                                     f"signed export {row.exported_wh}")
            certs = (await agg.client.get("/api/certificates", params={"meter_id": p.meter_id, "limit": 1000})).json()
            row.certified_wh = sum(c["energy_wh"] for c in certs)
            row.certs_issued = len(certs)
            if row.certified_wh > row.minted_wh:
                cert_bad.append(f"{p.meter_id}: certified {row.certified_wh} Wh > eligible {row.minted_wh} Wh")
            rows.append(row)
            by_wallet[str(p.wallet.pubkey())] = row
        all_certs = (await agg.client.get("/api/certificates", params={"limit": 1000})).json()
        for c in all_certs:
            holder = by_wallet.get(c["owner_wallet"])
            if holder is not None and c["owner_wallet"] != c["issued_to_wallet"]:
                holder.certs_received += 1
                holder.certs_retired += c["status"] == "retired"
        trades = await conn.fetch("SELECT market_address, buyer_wallet, seller_wallet, energy_wh, price_per_kwh_micro,"
                                  " value_micro, fee_micro, executed_at FROM trades ORDER BY id")
        open_asks = await conn.fetch("SELECT owner_wallet, sum(energy_wh - filled_wh) AS wh FROM orders "
                                     "WHERE side = 'sell' AND status IN ('open', 'partially_filled') "
                                     "GROUP BY owner_wallet")
        hourly = await conn.fetch(
            "SELECT floor((extract(epoch FROM reading_ts) - $1) * $2 / 3600)::int AS h, sum(production_wh) AS e, "
            "sum(consumption_wh) AS i FROM readings GROUP BY 1", wall_start, acceleration)
    for h in hourly:
        if h["h"] is not None and 0 <= h["h"] < 24:
            report.hourly_export[h["h"]] += int(h["e"])
            report.hourly_import[h["h"]] += int(h["i"])
    auction = str(desk.markets[1].address)
    paid = fees = earned = 0
    for t in trades:
        seller, buyer = by_wallet.get(t["seller_wallet"]), by_wallet.get(t["buyer_wallet"])
        if seller is not None:
            seller.sold_wh += t["energy_wh"]
            seller.earned += t["value_micro"] - t["fee_micro"]
            seller.fees += t["fee_micro"]
        if buyer is not None:
            buyer.bought_wh += t["energy_wh"]
            buyer.paid += t["value_micro"]
        paid += t["value_micro"]
        fees += t["fee_micro"]
        earned += t["value_micro"] - t["fee_micro"]
        hour = min(24.0, max(0.0, (t["executed_at"].timestamp() - wall_start) * acceleration / 3600))
        (report.auction_prices if t["market_address"] == auction else report.continuous_prices).append(
            (hour, t["price_per_kwh_micro"]))

    # --- the checks -------------------------------------------------------------------------------------
    c = report.checks
    c.append(("mint rule: GRID minted = signed export, per meter", not mint_rule_bad,
              "; ".join(mint_rule_bad) or f"{len(people)} meters, {kwh(sum(r.minted_wh for r in rows))} GRID"))
    grid_wallets = sum(traders.grid_of(p.wallet) for p in people)
    grid_vaults = sum(traders.token(m.grid_vault) for m in desk.markets)
    minted = sum(r.minted_wh for r in rows)
    c.append(("GRID on chain (wallets + market vaults) = minted", grid_wallets + grid_vaults == minted,
              f"{grid_wallets:,} + {grid_vaults:,} Wh vs {minted:,} Wh minted"))
    resting = {r["owner_wallet"]: int(r["wh"]) for r in open_asks}
    grid_bad = []
    for p in people:
        w = str(p.wallet.pubkey())
        r = by_wallet[w]
        want = r.minted_wh + r.bought_wh - r.sold_wh - resting.get(w, 0)
        if traders.grid_of(p.wallet) != want:
            grid_bad.append(f"{p.name}: chain {traders.grid_of(p.wallet):,}, expected {want:,}")
    c.append(("GRID conserved across trades: wallet = minted + bought - sold - resting asks", not grid_bad,
              "; ".join(grid_bad) or f"{len(trades)} fills, {kwh(sum(r.sold_wh for r in rows))} GRID traded"))
    c.append(("money conserved across trades: paid by buyers = earned by sellers + fees", paid == earned + fees,
              f"{tok(paid)} = {tok(earned)} + {tok(fees)}"))
    fee_account = traders.token(desk.markets[0].fee_account)
    c.append(("the fee account holds the fees", fee_account == fees, f"{tok(fee_account)} vs {tok(fees)}"))
    pay_wallets = sum(traders.payment_of(p.wallet) for p in people)
    pay_vaults = sum(traders.token(m.payment_vault) for m in desk.markets)
    deposits = traders.counters.deposits
    c.append(("money on chain (wallets + vaults + fee account) = deposits",
              pay_wallets + pay_vaults + fee_account == deposits,
              f"{tok(pay_wallets)} + {tok(pay_vaults)} + {tok(fee_account)} vs {tok(deposits)}"))
    c.append(("certified energy <= eligible (minted production), per meter", not cert_bad,
              "; ".join(cert_bad) or f"{sum(r.certs_issued for r in rows)} certificates, "
                                     f"{kwh(sum(r.certified_wh for r in rows))} kWh certified"))
    return report

