"""Start N emulated meters and print where they listen; Ctrl-C (or SIGTERM) stops them.

Examples::

    python -m hardware.emulators -n 3                       # 3 SDM120s on ptys, real time
    python -m hardware.emulators -n 2 --transport tcp --base-port 5020 --model sdm630
    python -m hardware.emulators --acceleration 8640 --start-hour 6 --fault garble:5
    python -m hardware.emulators -n 2 --json --duration 60  # JSON lines, exit after 60 s
    python -m hardware.emulators -n 4 --bus                 # 4 meters, unit ids 1..4, one pty

One line per meter is printed once every meter is ready (``--json``: one JSON object
per line with transport, address, unit_id, model, baud), then ``ready``. Meter i uses
profile seed ``--seed + i`` so the meters do not produce identical days.

With ``--control`` the command also reads commands from stdin (``inject 0 timeout:3``,
``clear 0``, ``status 0``, ``quit``; see hardware/emulators/control.py); end of input
stops the meters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from hardware.emulators.control import QUIT, handle
from hardware.emulators.faults import FaultKind, parse_fault
from hardware.emulators.fleet import MeterFleet, MeterSpec
from hardware.errors import HardwareError
from hardware.registers.model import model_names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hardware.emulators", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-n", "--count", type=int, default=1, help="number of meters (default 1)")
    p.add_argument("--model", choices=model_names(), default="sdm120")
    p.add_argument("--transport", choices=("rtu", "tcp"), default="rtu")
    p.add_argument("--unit-id", type=int, default=None,
                   help="slave id (default: the model's); with --bus the first of N consecutive ids")
    p.add_argument("--bus", action="store_true",
                   help="put all meters on ONE line (RS-485 multi-drop, or one TCP gateway port)")
    p.add_argument("--seed", type=int, default=1, help="profile seed of meter 0")
    p.add_argument("--acceleration", type=float, default=1.0,
                   help="simulated seconds per wall second (8640: a day in 10 s)")
    p.add_argument("--start-hour", type=float, default=0.0, help="simulated time of day at start")
    p.add_argument("--pv-kw", type=float, default=None,
                   help="PV peak power in kW (default 5, 10 on three-phase; 0: no PV)")
    p.add_argument("--cloud-cover", type=float, default=0.3, help="0 clear .. 1 overcast (default 0.3)")
    p.add_argument("--no-ev", action="store_true", help="the site has no EV charger")
    p.add_argument("--host", default="127.0.0.1", help="TCP bind address")
    p.add_argument("--base-port", type=int, default=None,
                   help="TCP port of meter 0, meter i gets base+i (default: free ports)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:COUNT]",
                   help=f"inject at start, repeatable; kinds: {', '.join(k.value for k in FaultKind)}")
    p.add_argument("--no-wire-timing", action="store_true",
                   help="answer RTU requests at once instead of at the baud rate's pace")
    p.add_argument("--strict-baud", action="store_true",
                   help="ignore RTU requests while the client's pty speed differs from the meter's")
    p.add_argument("--link-dir", default=None, help="directory for the pty links (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print endpoints as JSON lines")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--control", action="store_true",
                   help="read inject/clear/status/quit commands from stdin; EOF stops")
    return p


async def run(args: argparse.Namespace) -> int:
    faults = dict(parse_fault(spec) for spec in args.fault)
    specs = [
        MeterSpec(
            model=args.model, transport=args.transport,
            unit_id=((args.unit_id or 1) + i) if args.bus else args.unit_id,
            seed=args.seed + i, acceleration=args.acceleration, start_s=args.start_hour * 3600.0,
            port=None if args.base_port is None else args.base_port + i,
            faults={k.value: v for k, v in faults.items()},
            wire_timing=not args.no_wire_timing,
            strict_baud=args.strict_baud,
            peak_pv_w=None if args.pv_kw is None else args.pv_kw * 1000.0,
            cloud_cover=args.cloud_cover,
            ev=not args.no_ev,
        )
        for i in range(args.count)
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with MeterFleet(specs, link_dir=args.link_dir, bus=args.bus) as fleet:
        for i, ep in enumerate(fleet.endpoints):
            if args.json:
                print(json.dumps({"index": i, "transport": ep.transport, "address": ep.address,
                                  "unit_id": ep.unit_id, "model": ep.model, "baud": ep.baud}))
            else:
                print(f"meter {i}: {ep.describe()}")
        print("ready", flush=True)
        control = asyncio.create_task(_control_loop(fleet, stop)) if args.control else None
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.duration)
        except TimeoutError:
            pass
        finally:
            if control is not None:
                control.cancel()
    print("stopped", flush=True)
    return 0


async def _control_loop(fleet: MeterFleet, stop: asyncio.Event) -> None:
    """Answer stdin commands until ``quit`` or end of input, then ask to stop."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            answer = handle(fleet, line.decode(errors="replace"))
            if answer == QUIT:
                break
            if answer:
                print(answer, flush=True)
    finally:
        transport.close()
        stop.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.count < 1:
        print("error: --count must be >= 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except HardwareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
