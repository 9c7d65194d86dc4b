"""Line commands that drive a running fleet (``python -m hardware.emulators --control``).

One command per line on stdin, one answer line on stdout::

    inject <index> <kind>[:<count>]   arm a fault on meter <index>   -> ok
    clear <index> [<kind>]            clear one or all faults         -> ok
    status <index>                    JSON: sim time, counters, serial, armed faults
    quit                              stop every meter and exit

Errors answer ``error: <reason>: <message>`` and leave the fleet running, so a test in
another process can inject faults while its client talks to the meter.
"""

from __future__ import annotations

import json

from hardware.emulators.faults import parse_fault
from hardware.emulators.fleet import MeterFleet
from hardware.errors import EmulatorError, HardwareError

QUIT = "quit"


def _meter(fleet: MeterFleet, index_text: str):
    try:
        return fleet.meters[int(index_text)]
    except (ValueError, IndexError) as exc:
        raise EmulatorError("bad_index", f"no meter {index_text!r} (have 0..{len(fleet.meters) - 1})") from exc


def handle(fleet: MeterFleet, line: str) -> str:
    """Execute one command line; return the answer line (``quit`` returns ``QUIT``)."""
    words = line.split()
    if not words:
        return ""
    try:
        cmd, args = words[0], words[1:]
        if cmd == "quit":
            return QUIT
        if cmd == "inject" and len(args) == 2:
            kind, count = parse_fault(args[1])
            _meter(fleet, args[0]).inject(kind, count)
            return "ok"
        if cmd == "clear" and len(args) in (1, 2):
            _meter(fleet, args[0]).clear(parse_fault(args[1])[0] if len(args) == 2 else None)
            return "ok"
        if cmd == "status" and len(args) == 1:
            meter = _meter(fleet, args[0])
            meter.state.advance()
            c = meter.state.counters
            return json.dumps({
                "sim_time_s": round(meter.state.t_s, 3),
                "import_energy_kwh": c.import_kwh,
                "export_energy_kwh": c.export_kwh,
                "serial_number": meter.state.serial_number,
                "stuck": meter.state.stuck,
                "requests": meter.device.requests,
                "faults": {k.value: v for k, v in meter.plan.remaining.items()},
            })
        raise EmulatorError("bad_command", f"{line.strip()!r}")
    except HardwareError as exc:
        return f"error: {exc}"
