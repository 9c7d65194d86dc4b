"""GridTokenX end to end on embedded defaults.

By default a community day (``demo.day``): a fleet of meters through two edge gateways,
a continuous and a 15-minute auction market, hourly certificates, a summary with
conservation checks, a chart and an HTML report.

``--short``: one rooftop-solar meter's readings become GRID, and one trade.

Starts an embedded PostgreSQL, a local mosquitto broker and the aggregator (in-process,
on a free port, with the on-chain programs executed by LiteSVM); registers a prosumer and
a consumer with wallet-signed requests, and the prosumer's meter with the device key its
firmware generates on first boot, both through the REST API and on chain with the owners'
own keys. Then an emulated SDM120 meter runs a sunny day from 09:00, accelerated so hours
pass in seconds, and the real MicroPython firmware reads it over a pty (Modbus RTU), signs
each reading and publishes it to the broker; the aggregator ingests over MQTT and its
minter mints 1 GRID per exported kWh. The demo reads back what happened: the readings
stored, the registry accounts, and the prosumer's GRID balance from chain state next to the
aggregator's balance and the signed export of the accepted readings (the mint rule).

Then the two trade on the aggregator's market (created at start-up on LiteSVM): the
prosumer offers part of the GRID just minted (an ask signed with the prosumer's own key,
relayed by POST /api/transactions), the consumer, holding the market's payment token,
places a crossing bid the same way, and the aggregator's matcher settles the pair on chain
at the resting ask's price. The demo reads back the token balances and the market account
from chain state (GRID to the consumer, value minus fee to the prosumer, the fee to the
market's fee account, the bid's price improvement refunded) next to /api/trades and
/api/orders. It exits non-zero if anything disagrees. Everything it started is stopped and
its temporary directory removed at exit, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import VerifyKey
from solders.keypair import Keypair

from aggregator.chain import CONSUMER, PROSUMER, ChainError, Registry, TxResult
from aggregator.config import ChainSettings, IngestPolicy, MqttSettings, Settings
from aggregator.trading.desk import LOCAL_TICK_SIZE
from common.wire import is_meter_id
from demo.feed import Progress, echo_lines, grid, hhmm
from demo.readback import print_accounts, settle_report
from demo.services import Aggregator, DemoError, serve_aggregator, start_broker, start_postgres
from demo.trade import DEPOSIT_MIN, PAYMENT_SCALE, Terms, open_floor, tokens
from firmware_host.unixport import build_firmware, device_public_key, firmware_script, start_firmware, write_config
from hardware.emulators import EmulatedMeter
from tools import wallet

DAY_START_S = 9 * 3600  # the emulated day starts at 09:00; the prosumer exports until ~16:30
INTERVAL_S = 1  # the firmware's reading interval (its minimum)
MAX_METERS = 80  # one process serves this many emulated meters on ptys


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show_tx(registry: Registry, result: TxResult) -> None:
    print(f"   tx {result.signature[:20]}...  {result.compute_units:,} CU")
    for event in registry.program.decode_events(result.logs):
        print(f"   event {event.name}")


#: The demo reads what it shows (readings, rejections, balances, orders) as the grid
#: operator, with a read token (docs/access-matrix.md).
DEMO_OPERATOR = Keypair()


def demo_settings(dsn: str, broker_host: str, broker_port: int, acceleration: float) -> Settings:
    """The aggregator on the embedded database, consuming the local broker, minting on LiteSVM.

    The firmware reads every second of wall time while the meter lives hours of simulated
    time, so the per-meter rate limit (one reading a minute of device time) is off here,
    and the rated-power allowance is scaled by the acceleration (energy of ``acceleration``
    seconds moves in one second of device time).
    The indexer polls the in-process chain often, so relayed orders reach the matcher at once.
    """
    rated_w = IngestPolicy().max_power_w
    return Settings(
        database_url=dsn, log_level="WARNING", log_json=False,
        chain=ChainSettings(backend="litesvm"),
        ingest=IngestPolicy(rate_limit_interval_s=0, max_power_w=int(rated_w * max(1.0, acceleration))),
        mqtt=MqttSettings(enabled=True, host=broker_host, port=broker_port, client_id="gtx-demo-aggregator"),
        mint_backoff_base_s=0.2, indexer_poll_s=0.1, operator_wallets=frozenset({str(DEMO_OPERATOR.pubkey())}),
    )


def demo_acceleration(args: argparse.Namespace) -> float:
    """Simulated seconds per wall-clock second of the meter's day."""
    return float(args.sim_hours * 3600 / (args.readings * INTERVAL_S))


async def expect(request: Awaitable[httpx.Response], what: str) -> dict[str, Any]:
    resp = await request
    if resp.status_code != 201:
        raise DemoError(f"{what}: HTTP {resp.status_code} {resp.text}")
    return resp.json()


async def register(agg: Aggregator, meter_id: str, location: str, device_key: bytes) -> tuple[Keypair, Keypair]:
    """Prosumer, consumer and meter through the REST API (wallet-signed), then on chain."""
    prosumer, consumer = Keypair(), Keypair()
    for kp, role in ((prosumer, "prosumer"), (consumer, "consumer")):
        user = await expect(wallet.register_user(agg.client, kp, role, display_name=f"demo {role}"), f"register {role}")
        print(f"   {role:<9}{user['wallet']}  (POST /api/users, signed challenge)")
    meter = await expect(wallet.register_meter(agg.client, prosumer, meter_id, device_key),
                         f"register meter {meter_id}")
    print(f"   meter    {meter['meter_id']} of {meter['owner_wallet']}, status {meter['status']}  (POST /api/meters)")

    step("4. on chain: the owners register with their own keys (LiteSVM in-process)")
    chain = agg.chain
    local, reg = chain.local, chain.registry
    assert local is not None
    for kp in (prosumer, consumer):
        local.fund(kp.pubkey())
    print(f"   registry {reg.program_id}")
    try:
        print("   prosumer: register_user")
        show_tx(reg, local.send([reg.register_user(prosumer.pubkey(), PROSUMER)], [prosumer]))
        print(f"   prosumer: register_meter {meter_id}")
        show_tx(reg, local.send([reg.register_meter(prosumer.pubkey(), meter_id, device_key, location)], [prosumer]))
        print("   consumer: register_user")
        show_tx(reg, local.send([reg.register_user(consumer.pubkey(), CONSUMER)], [consumer]))
    except ChainError as exc:
        raise DemoError(f"on-chain registration failed: {exc}") from exc
    return prosumer, consumer


async def run_meter(stack: contextlib.AsyncExitStack, agg: Aggregator, args: argparse.Namespace, workdir: Path,
                    build_dir: Path, flash_dir: Path, broker_port: int) -> None:
    """The emulated meter and the firmware until ``args.readings`` readings are ingested and minted."""
    acceleration = demo_acceleration(args)
    meter = EmulatedMeter(model="sdm120", seed=args.seed, acceleration=acceleration, start_s=DAY_START_S,
                          link_dir=str(workdir / "pty"), name="sdm120")
    (workdir / "pty").mkdir()
    await stack.enter_async_context(meter)
    progress = await stack.enter_async_context(Progress(agg.client, args.meter_id, meter.clock.now_s))
    print(f"   meter     SDM120 (Modbus RTU, unit 1) on {meter.port}, "
          f"rooftop PV {meter.site.solar.peak_power_w / 1000:g} kWp "
          f"+ household + EV, day from {hhmm(DAY_START_S)} at {acceleration:,.0f}x")
    write_config(flash_dir, meter_id=args.meter_id, host="127.0.0.1", port=broker_port, device=meter.port,
                 interval_s=INTERVAL_S)
    proc = await start_firmware(build_dir, flash_dir, firmware_script(args.readings))

    async def stop_firmware() -> None:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    stack.push_async_callback(stop_firmware)
    print(f"   firmware  MicroPython unix port, 64 KB heap, {args.readings} readings every {INTERVAL_S} s")
    output: list[str] = []
    echoes = [asyncio.create_task(echo_lines(s, "   firmware | ", output)) for s in (proc.stdout, proc.stderr) if s]
    try:
        code = await asyncio.wait_for(proc.wait(), args.readings * INTERVAL_S + 60)
    except TimeoutError:
        raise DemoError("the firmware did not finish in time") from None
    await asyncio.gather(*echoes)
    if code != 0:
        undelivered = " (readings left undelivered)" if code == 3 else ""
        raise DemoError(f"the firmware exited with status {code}{undelivered}")
    await wait_ingested_and_minted(agg, args.meter_id, args.readings, progress)


async def wait_ingested_and_minted(agg: Aggregator, meter_id: str, readings: int, progress: Progress,
                                   timeout_s: float = 30.0) -> None:
    """Until every published reading was judged and every accepted one minted, then shows the rest."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        rejected = (await agg.client.get(f"/api/meters/{meter_id}/rejections")).json()
        stored = (await agg.client.get(f"/api/meters/{meter_id}/readings", params={"limit": 1000})).json()
        if len(stored) + len(rejected) >= readings and all(r["minted"] for r in stored):
            break
        await asyncio.sleep(0.1)
    else:
        print("   (not everything was ingested and minted in time; reporting what there is)")
    await progress.poll()  # a batch is confirmed in the transaction that marks its readings minted


async def run(args: argparse.Namespace) -> int:
    """The demo in a task of its own, its teardown outside it: Ctrl-C or SIGTERM cancels the
    demo, never the teardown, which always runs to the end."""
    loop = asyncio.get_running_loop()
    signals: list[int] = []
    body: asyncio.Task[int] | None = None

    def on_signal(signum: int) -> None:
        signals.append(signum)
        if body is not None:
            body.cancel()

    try:
        async with contextlib.AsyncExitStack() as stack:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal, sig)
                stack.callback(loop.remove_signal_handler, sig)
            body = asyncio.create_task(demo(stack, args), name="gtx-demo")
            return await body
    except (asyncio.CancelledError, Exception) as exc:
        if signals:
            print(f"interrupted ({signal.Signals(signals[0]).name}): everything stopped and removed", file=sys.stderr)
            return 128 + signals[0]
        if isinstance(exc, DemoError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


async def demo(stack: contextlib.AsyncExitStack, args: argparse.Namespace) -> int:
    """Every step; whatever a step starts is registered on ``stack`` to be stopped."""
    workdir = Path(tempfile.mkdtemp(prefix="gtx-demo-"))
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    stack.callback(print, "\n== stopped everything; removed", workdir, flush=True)
    step("1. servers: embedded PostgreSQL, local mosquitto, the aggregator (LiteSVM chain)")
    print(f"   work dir   {workdir} (removed at exit)")
    pg = start_postgres(stack, workdir / "pg")
    print(f"   postgres   {pg.dsn()}")
    broker = start_broker(stack, workdir / "mosquitto")
    print(f"   mosquitto  mqtt://{broker.host}:{broker.port}")
    agg = await serve_aggregator(stack, demo_settings(pg.dsn(), broker.host, broker.port, demo_acceleration(args)))
    print(f"   aggregator {agg.url}  (MQTT subscribed, minter on LiteSVM, docs at {agg.url}/docs)")
    await wallet.authorize(agg.client, DEMO_OPERATOR)
    print(f"   operator   {DEMO_OPERATOR.pubkey()}  (reads private data with a token: POST /api/auth/token)")

    step("2. firmware: compiled with mpy-cross; the device key is generated on first boot")
    build_dir, flash_dir = build_firmware(workdir / "fw-build"), workdir / "meter-flash"
    flash_dir.mkdir()
    device_key = await device_public_key(build_dir, flash_dir)
    VerifyKey(device_key)  # a valid Ed25519 public key
    print(f"   build      {build_dir}")
    print(f"   device key {device_key.hex()}  (firmware_host.deploy pubkey prints the same on a device)")

    step("3. register a prosumer, a consumer and the prosumer's meter (wallet-signed REST)")
    prosumer, consumer = await register(agg, args.meter_id, args.location, device_key)

    step(f"5. run: emulated meter -> MicroPython firmware -> mosquitto -> aggregator -> minter "
         f"({args.readings} readings, ~{args.sim_hours:g} simulated hours)")
    await run_meter(stack, agg, args, workdir, build_dir, flash_dir, broker.port)

    step("6. read back from chain state: registry accounts")
    problems = print_accounts(agg.chain, args.meter_id, [prosumer, consumer], device_key, prosumer)
    step("7. read back: readings, mints and the prosumer's GRID balance")
    outcome = await settle_report(agg.client, agg.chain, args.meter_id, prosumer)
    if outcome.accepted != args.readings or outcome.rejected:
        problems.append(f"{outcome.accepted} of {args.readings} readings accepted, {outcome.rejected} rejected")
    if not outcome.agrees:
        problems.append(f"balances disagree: chain {outcome.chain_balance_wh:,} Wh, aggregator "
                        f"{outcome.aggregator_minted_wh:,} Wh, signed export of the readings {outcome.due_wh:,} Wh")
    if problems:
        return report(problems)
    print(f"\nok: {outcome.accepted} readings ingested over MQTT; chain balance = aggregator balance = "
          f"signed export = {outcome.due_wh:,} Wh ({grid(outcome.due_wh)})", flush=True)
    return await trade(agg, args, prosumer, consumer, outcome.chain_balance_wh)


def report(problems: list[str]) -> int:
    for p in problems:
        print(f"error: {p}", file=sys.stderr, flush=True)
    return 1


async def trade(agg: Aggregator, args: argparse.Namespace, prosumer: Keypair, consumer: Keypair,
                minted_wh: int) -> int:
    """The prosumer sells part of the minted GRID to the consumer; returns the exit status."""
    step("8. trading: the aggregator's market (created at start-up on LiteSVM); the consumer's deposit")
    floor = await open_floor(agg, prosumer, consumer)
    floor.show_market()
    lot, tick = floor.market["lot_size_wh"], floor.market["tick_size_per_kwh_micro"]
    sell_wh = args.sell_wh if args.sell_wh is not None else minted_wh // 2 // lot * lot
    if not 0 < sell_wh <= minted_wh:
        raise DemoError(f"the prosumer holds {minted_wh:,} Wh of GRID: cannot offer {sell_wh:,} Wh (see --sell-wh)")
    if sell_wh % lot or args.ask_price % tick or args.bid_price % tick:
        raise DemoError(f"the market trades lots of {lot:,} Wh at ticks of {tick:,} base units per kWh")
    terms = Terms(sell_wh, args.ask_price, args.bid_price, floor.market["fee_bps"])
    floor.deposit(max(DEPOSIT_MIN, terms.bid_escrow))

    step("9. the prosumer offers GRID: an ask signed with the prosumer's own key, relayed by POST /api/transactions")
    before = floor.holdings()
    print(f"   prosumer {prosumer.pubkey()} holds {grid(before.prosumer_grid)}; offers {sell_wh:,} Wh "
          f"({grid(sell_wh)}) at {tokens(terms.ask_micro)} per kWh")
    ask = await floor.place(prosumer, "sell", terms.ask_micro, sell_wh)
    print("   order book before matching (GET /api/orderbook; the book the bid meets):")
    await floor.show_book()

    step("10. the consumer bids across the ask (signed with the consumer's own key, relayed); the aggregator's "
         "matcher settles the pair on chain")
    print(f"   consumer {consumer.pubkey()} holds {tokens(before.consumer_payment)} payment tokens; "
          f"bids for {sell_wh:,} Wh at up to {tokens(terms.bid_micro)} per kWh")
    bid = await floor.place(consumer, "buy", terms.bid_micro, sell_wh)
    settled = await floor.wait_settled([ask, bid])
    if not settled:
        print("   (the orders were not settled and closed in time; reporting what there is)")
    matched = await floor.show_trade(terms)
    print("   order book after matching:")
    await floor.show_book()

    step("11. read back: the trade on chain next to the aggregator's records")
    problems = await floor.read_back(terms, before, ask, bid, matched)
    if problems:
        return report(problems)
    print(f"\nok: traded {sell_wh:,} Wh at {tokens(terms.ask_micro)} per kWh; on chain the consumer received "
          f"{grid(sell_wh)}, the prosumer {tokens(terms.value - terms.fee)}, the fee account {tokens(terms.fee)}, "
          f"the consumer's price improvement of {tokens(terms.improvement)} was refunded; /api/trades and "
          "/api/orders agree", flush=True)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="./gtx demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 when every reading was accepted, the balances agree and the trade settled on chain "
               "as /api/trades and /api/orders say; 1 when a step failed or anything disagrees; "
               "130 / 143 after Ctrl-C / SIGTERM. Needs what scripts/setup.sh installs "
               "(mosquitto, socat, the MicroPython interpreter, the built programs).")
    p.add_argument("--short", action="store_true",
                   help="the short run: one meter, a few simulated hours, one trade (the options below --out)")
    p.add_argument("--meters", type=int, default=22, metavar="N", help="households in the community day (default 22)")
    p.add_argument("--firmware", type=int, default=None, metavar="N",
                   help="meters read by the real firmware on the MicroPython interpreter, the rest but the --direct "
                        "ones by the device model (default: every meter but the --direct ones, at most 40)")
    p.add_argument("--direct", type=int, default=2, metavar="N",
                   help="meters wired to gateway B and polled by it (default 2)")
    p.add_argument("--wall-s", type=float, default=120.0, metavar="S",
                   help="wall-clock seconds of the simulated day (default 120)")
    p.add_argument("--chaos", action="store_true",
                   help="kill -9 each edge gateway and the aggregator's broker once, at seeded moments of the day, "
                        "and restart them")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="where the chart and the HTML report go")
    p.add_argument("--readings", type=int, default=8, metavar="N",
                   help="readings the firmware takes, one a second; the first is the baseline (default 8, min 2)")
    p.add_argument("--sim-hours", type=float, default=4.0, metavar="H",
                   help="simulated hours of the sunny day (from 09:00) the readings span (default 4, max 7)")
    p.add_argument("--seed", type=int, default=1, help="seed of the emulated site's day (clouds, loads)")
    p.add_argument("--meter-id", default="MTR-001", help="meter id to register ([A-Za-z0-9_-], 1-32 characters)")
    p.add_argument("--location", default="TH-BKK-Sukhumvit-01", help="meter location label (<= 32 bytes)")
    p.add_argument("--sell-wh", type=int, metavar="WH",
                   help="energy the prosumer offers and the consumer bids for, in Wh (default: half the GRID minted)")
    p.add_argument("--ask-price", type=price, default=price("0.10"), metavar="P",
                   help="the prosumer's ask, payment tokens per kWh, a multiple of 0.001 (default 0.10)")
    p.add_argument("--bid-price", type=price, default=price("0.12"), metavar="P",
                   help="the consumer's bid, payment tokens per kWh, at least the ask; the trade is at the ask's "
                        "price and the difference is refunded (default 0.12)")
    args = p.parse_args(argv)
    if args.firmware is None:
        args.firmware = max(0, min(40, args.meters - args.direct))
    if not 2 <= args.meters <= MAX_METERS:
        p.error(f"--meters must be in [2, {MAX_METERS}]: every meter is an emulator on a pty in this process "
                "(see docs/community-day.md)")
    if not 0 <= args.firmware + args.direct <= args.meters:
        p.error("--meters must be at least 2 and hold the --firmware and --direct meters")
    if not 20 <= args.wall_s <= 3600:
        p.error("--wall-s must be in [20, 3600]")
    if args.readings < 2:
        p.error("--readings must be at least 2 (the first reading is the baseline)")
    if not is_meter_id(args.meter_id):
        p.error("--meter-id must be 1-32 of A-Z a-z 0-9 _ - (what the firmware's config accepts)")
    if not 0 < len(args.location.encode()) <= 32:
        p.error("--location must be 1-32 bytes")
    if not 0 < args.sim_hours <= 7:
        p.error("--sim-hours must be in (0, 7]: the prosumer exports between about 09:00 and 16:30")
    if args.sell_wh is not None and args.sell_wh < 1:
        p.error("--sell-wh must be at least 1")
    if args.bid_price < args.ask_price:
        p.error("--bid-price must be at least --ask-price, or the orders do not cross")
    return args


def price(text: str) -> int:
    """Payment tokens per kWh (e.g. 0.10) as base units per kWh, a multiple of the market's tick."""
    try:
        micro = Decimal(text) * PAYMENT_SCALE
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if micro <= 0 or micro % LOCAL_TICK_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r}: a price above 0 in steps of "
                                         f"{Decimal(LOCAL_TICK_SIZE) / PAYMENT_SCALE} per kWh")
    return int(micro)


async def cancellable(body: Awaitable[int]) -> int:
    """``body`` in a task of its own: Ctrl-C or SIGTERM cancels it, so everything it
    started is stopped by its own exit stack; 128 + the signal's number then."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(body)
    signals: list[int] = []

    def on_signal(signum: int) -> None:
        signals.append(signum)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await task
    except asyncio.CancelledError:
        if not signals:
            raise
        print(f"interrupted ({signal.Signals(signals[0]).name}): everything stopped and removed", file=sys.stderr)
        return 128 + signals[0]
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.short:
        from rich.console import Console

        from demo.day import community_day, parse_day
        try:
            return asyncio.run(cancellable(community_day(parse_day(args), Console(width=max(Console().width, 150)))))
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
