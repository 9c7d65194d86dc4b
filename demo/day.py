"""A community day: a fleet of meters through two gateways, both markets, certificates.

The servers (embedded PostgreSQL, the aggregator's mosquitto, the aggregator in-process on
LiteSVM with a continuous and a 15-minute auction market), then the households: meters on
Modbus RTU, read by the firmware on the MicroPython interpreter (a sample), by the device
model (the rest) or by gateway B itself; two edge gateways relay through their outboxes.
The simulated day runs from midnight to midnight at ``86,400 / wall_s`` times real time;
the chain's clock follows the simulated clock (from the first slot boundary after the
start), so the auction's 15-minute slots close on simulated time. At the end: the
summary, the conservation checks, a PNG chart and an HTML report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import VerifyKey
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from solders.keypair import Keypair

from aggregator.app import create_app
from aggregator.chain import PROSUMER
from aggregator.chain.connect import local_chain
from aggregator.config import ChainSettings, IngestPolicy, MqttSettings, Settings
from aggregator.services import services_of
from aggregator.trading.desk import local_desk
from demo.feed import hhmm
from demo.fleet import DAY_S, DeviceModel, Gateway, Participant, by_driver, go_live, roster, start_meters
from demo.market import PAYMENT_LABEL, Traders
from demo.services import Aggregator, DemoError, serve_aggregator, start_broker, start_postgres
from demo.summary import Report, build_report
from devservers.mosquitto import MosquittoBroker
from firmware_host.unixport import build_firmware, device_public_key, firmware_script, start_firmware, write_config
from tools import wallet

__all__ = ["DayPlan", "community_day"]

AUCTION_SLOT_S = 900
INTERVAL_S = 1


@dataclass(frozen=True)
class DayPlan:
    meters: int = 22
    seed: int = 1
    firmware: int = 20
    direct: int = 2
    wall_s: float = 120.0  # wall-clock seconds of the simulated day
    out_dir: Path = Path("demo-out")
    chaos: bool = False  # kill -9 each gateway once, at a seeded moment of the day, and restart it

    @property
    def acceleration(self) -> float:
        return DAY_S / self.wall_s

    @property
    def readings(self) -> int:  # per meter: one a second of wall time, the last ones after midnight
        return int(math.ceil(self.wall_s / INTERVAL_S)) + 3


#: The demo reads households' private data (readings, reconciliation, balances) as the grid
#: operator, with a read token (docs/access-matrix.md).
DAY_OPERATOR = Keypair()


def settings_for(dsn: str, broker: MosquittoBroker, acceleration: float) -> Settings:
    rated_w = IngestPolicy().max_power_w
    return Settings(
        database_url=dsn, log_level="ERROR", log_json=False,
        chain=ChainSettings(backend="litesvm"),
        ingest=IngestPolicy(rate_limit_interval_s=0, max_power_w=int(rated_w * max(1.0, acceleration))),
        mqtt=MqttSettings(enabled=True, host=broker.host, port=broker.port, client_id="gtx-day-aggregator"),
        mint_backoff_base_s=0.2, indexer_poll_s=0.2,
        operator_wallets=frozenset({str(DAY_OPERATOR.pubkey())}),
    )


async def register(agg: Aggregator, people: list[Participant]) -> None:
    """Each household: user and meter through the REST API (wallet-signed), then on chain with its own key.

    Every household owns a meter, and only a registered prosumer may own one, so the
    consumers register in that role too (they never offer: their traders only buy)."""
    chain = agg.chain
    local, reg = chain.local, chain.registry
    assert local is not None
    for p in people:
        resp = await wallet.register_user(agg.client, p.wallet, "prosumer", display_name=p.name)
        if resp.status_code != 201:
            raise DemoError(f"register {p.name}: HTTP {resp.status_code} {resp.text}")
        resp = await wallet.register_meter(agg.client, p.wallet, p.meter_id, p.device_key)
        if resp.status_code != 201:
            raise DemoError(f"register meter {p.meter_id}: HTTP {resp.status_code} {resp.text}")
        local.fund(p.wallet.pubkey())
        local.send([reg.register_user(p.wallet.pubkey(), PROSUMER)], [p.wallet])
        local.send([reg.register_meter(p.wallet.pubkey(), p.meter_id, p.device_key, f"TH-BKK-community-{p.index:02d}")],
                   [p.wallet])


async def counts(agg: Aggregator) -> dict[str, int]:
    pool = services_of(agg.app).pool
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM readings) AS readings,"
            " (SELECT count(*) FROM mint_batches WHERE state = 'confirmed' AND minted_wh > 0) AS mints,"
            " (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM trades) AS fills,"
            " (SELECT count(*) FROM certificates) AS certificates")
    return dict(row)


async def community_day(plan: DayPlan, console: Console) -> int:
    """Run the day; the process exit status (0 when every check holds)."""
    wall0 = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="gtx-day-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        console.print(f"[bold]GridTokenX community day[/]: {plan.meters} meters, seed {plan.seed}, "
                      f"24 simulated hours in ~{plan.wall_s:g} s ({plan.acceleration:,.0f}x)")
        console.print(f"payment: {PAYMENT_LABEL}")
        console.print(f"work dir {workdir} (removed at exit)")
        console.print("== servers: embedded PostgreSQL, mosquitto (the aggregator's broker), the aggregator on LiteSVM")
        pg = start_postgres(stack, workdir / "pg")
        # the aggregator's broker keeps its sessions on disk (saved on every change), so a
        # kill -9 under --chaos loses no subscription
        upstream = MosquittoBroker(workdir / "mosquitto-upstream", persistence=True)
        stack.callback(upstream.stop)
        upstream.start()
        handle = local_chain()
        desk = local_desk(handle, auction_slot_secs=(AUCTION_SLOT_S,))
        settings = settings_for(pg.dsn(), upstream, plan.acceleration)
        agg = await serve_aggregator(stack, settings, app=create_app(settings, chain_handle=handle, trading_desk=desk))
        await wallet.authorize(agg.client, DAY_OPERATOR)  # the summary reads every household's data
        console.print(f"   aggregator {agg.url}; markets: continuous {desk.markets[0].address}, "
                      f"auction (15 min) {desk.markets[1].address}")

        people = roster(plan.meters, plan.seed, plan.firmware, plan.direct)
        console.print(f"== meters: {sum(p.role == 'prosumer' for p in people)} prosumers, "
                      f"{sum(p.role == 'consumer' for p in people)} consumers; "
                      f"{sum(p.model == 'sdm630' for p in people)} SDM630 + {sum(p.model == 'sdm120' for p in people)}"
                      f" SDM120 on Modbus RTU; {plan.firmware} read by the firmware on MicroPython, "
                      f"{plan.direct} by gateway B directly, the rest by the device model")
        await start_meters(stack, people, plan.acceleration, workdir / "pty")
        fw_people = list(by_driver(people, "firmware"))
        build_dir = build_firmware(workdir / "fw-build") if fw_people else workdir
        for p in fw_people:
            (workdir / p.meter_id).mkdir()
        keys = await asyncio.gather(*(device_public_key(build_dir, workdir / p.meter_id) for p in fw_people))
        for p, key in zip(fw_people, keys, strict=True):
            VerifyKey(key)
            p.device_key = key

        locals_ = [start_broker(stack, workdir / f"mosquitto-gw{i}") for i in range(2)]
        gateways = []
        for i, name in enumerate(("gw-a", "gw-b")):
            (workdir / name).mkdir()
            gw = Gateway(name, workdir / name, locals_[i], upstream.host, upstream.port,
                         direct=[p for p in people if p.driver == "gateway"] if i == 1 else [], interval_s=INTERVAL_S)
            gateways.append(gw)
        for p in people:
            if p.driver == "device-model":
                from common.envelope import public_key_from_seed
                p.device_key = public_key_from_seed(p.device_seed)
            elif p.driver == "gateway":
                p.device_key = gateways[1].public_key

        console.print("== register every household and meter (wallet-signed REST, then on chain with its own key)")
        await register(agg, people)
        traders = Traders(agg, desk, people, services_of(agg.app).pool)
        traders.deposit()
        console.print(f"   {len(people)} users and meters registered; consumers hold "
                      f"{traders.counters.deposits / 10**6:,.0f} tokens of deposits ({PAYMENT_LABEL})")

        for gw in gateways:
            stack.callback(gw.stop)
            await asyncio.to_thread(gw.start)
        console.print(f"   gateways: gw-a (local broker :{locals_[0].port}), gw-b (local broker :{locals_[1].port}, "
                      f"polls {plan.direct} meters itself) -> outboxes -> mosquitto :{upstream.port}")

        local = agg.chain.local
        assert local is not None
        wall_start = go_live(people)
        chain_t0 = (int(wall_start) // AUCTION_SLOT_S + 1) * AUCTION_SLOT_S
        local.set_time(chain_t0)

        procs = []
        for p in fw_people:
            assert p.meter is not None
            write_config(workdir / p.meter_id, meter_id=p.meter_id, host=locals_[p.gateway].host,
                         port=locals_[p.gateway].port, device=p.meter.port, model=p.model, interval_s=INTERVAL_S)
            procs.append(await start_firmware(build_dir, workdir / p.meter_id, firmware_script(plan.readings)))

        async def stop_firmware() -> None:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        stack.push_async_callback(stop_firmware)

        # a block read that times out is counted and read again at the next interval;
        # pymodbus's own log of it would only interleave with the progress bar
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        models, device_models = [], []
        for i in range(2):
            group = [p for p in by_driver(people, "device-model") if p.gateway == i]
            model = DeviceModel(group, locals_[i], INTERVAL_S, plan.readings)
            model.connect()
            device_models.append(model)
            stack.callback(model.close)
            models.append(asyncio.create_task(model.run()))

        async def stop_models() -> None:
            for t in models:
                t.cancel()
            await asyncio.gather(*models, return_exceptions=True)
        stack.push_async_callback(stop_models)

        rng = random.Random(plan.seed)
        victims: list[Gateway | MosquittoBroker] = [*gateways, upstream]
        kills = sorted(((rng.uniform(4 * 3600, 20 * 3600), v) for v in victims), key=lambda k: k[0]) \
            if plan.chaos else []
        sim_now = people[0].meter.clock.now_s if people[0].meter else (lambda: 0.0)
        matcher = services_of(agg.app).matcher
        next_round = 0
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task("00:00", total=DAY_S, counts="")
            while True:
                now = sim_now()
                local.set_time(chain_t0 + int(now))
                while kills and now >= kills[0][0]:
                    _, victim = kills.pop(0)
                    victim.kill()
                    if isinstance(victim, Gateway):
                        console.print(f"chaos: kill -9 gateway {victim.name} at sim {hhmm(now)} "
                                      f"({victim.outbox_depth()} readings in its outbox); restarting it")
                    else:
                        console.print(f"chaos: kill -9 the aggregator's broker (mosquitto :{victim.port}) at sim "
                                      f"{hhmm(now)}; restarting it")
                    await asyncio.to_thread(victim.start)
                if now >= next_round * AUCTION_SLOT_S - 60 and next_round * AUCTION_SLOT_S <= DAY_S:
                    await traders.trade_round()
                    if next_round % 4 == 0:
                        await traders.certify_round()
                    next_round += 1
                if matcher is not None:
                    matcher.wake()
                c = await counts(agg)
                bar.update(task, completed=now, description=f"sim {hhmm(now)}",
                           counts=f"readings {c['readings']:,}  mints {c['mints']:,}  orders {c['orders']:,}  "
                                  f"fills {c['fills']:,}  certificates {c['certificates']:,}")
                if now >= DAY_S:
                    break
                await asyncio.sleep(0.25)
            bar.update(task, description="sim 24:00 drain")
            await asyncio.gather(*models)
            for proc in procs:
                await asyncio.wait_for(proc.wait(), 60)
            await drain(agg, gateways, people, plan)
            # the last auction slot and the last certificates
            local.set_time(chain_t0 + DAY_S + AUCTION_SLOT_S)
            await traders.trade_round()
            await traders.certify_round()
            local.set_time(chain_t0 + DAY_S + 2 * AUCTION_SLOT_S)
            if matcher is not None:
                await matcher.run_once()
            indexer = services_of(agg.app).indexer
            if indexer is not None:
                await indexer.sync_once()
            await traders.certify_round()
            c = await counts(agg)
            bar.update(task, completed=DAY_S, description="sim 24:00",
                       counts=f"readings {c['readings']:,}  mints {c['mints']:,}  orders {c['orders']:,}  "
                              f"fills {c['fills']:,}  certificates {c['certificates']:,}")

        report: Report = await build_report(agg, desk, traders, people, wall_start, plan.acceleration, chain_t0)
        out = plan.out_dir.resolve()
        out.mkdir(parents=True, exist_ok=True)
        ok = report.render(console, out)
        if any(m.people for m in device_models):
            console.print(f"device model: {sum(m.sent for m in device_models):,} readings published, "
                          f"{sum(m.missed for m in device_models):,} block reads without an answer in time")
        refused = ", ".join(f"{reason} {n}" for reason, n in sorted(traders.counters.cert_refused.items()))
        console.print(f"orders relayed {traders.counters.orders:,} (refused {traders.counters.refused}); "
                      f"certificates issued {traders.counters.certificates}, transferred "
                      f"{traders.counters.transferred}, retired {traders.counters.retired}; "
                      f"certificate requests refused: {refused or 'none'}")
        console.print(f"wall time {time.monotonic() - wall0:.1f} s ({plan.meters} meters, 1 simulated day; "
                      f"{plan.meters / ((time.monotonic() - wall0) / 60):.1f} meter-days per wall-clock minute)")
        return 0 if ok else 1


async def drain(agg: Aggregator, gateways: list[Gateway], people: list[Participant], plan: DayPlan,
                timeout_s: float = 60.0) -> None:
    """After midnight: until the outboxes are empty (then the gateways stop, so gateway B
    polls no more), then until every stored reading is minted."""
    pool = services_of(agg.app).pool
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    await asyncio.sleep(2 * INTERVAL_S)
    while sum(gw.outbox_depth() for gw in gateways):
        if loop.time() > deadline:
            raise DemoError("readings still queued in a gateway's outbox 60 s after midnight")
        await asyncio.sleep(0.25)
    for gw in gateways:
        await asyncio.to_thread(gw.stop)
    while True:
        async with pool.acquire() as conn:
            if await conn.fetchval("SELECT count(*) FROM readings WHERE NOT minted") == 0:
                return
        if loop.time() > deadline:
            raise DemoError("readings still unminted 60 s after midnight")
        await asyncio.sleep(0.25)


def parse_day(args: argparse.Namespace) -> DayPlan:
    return DayPlan(meters=args.meters, seed=args.seed, firmware=args.firmware, direct=args.direct,
                   wall_s=args.wall_s, out_dir=Path(args.out), chaos=args.chaos)
