"""Emulated SDM-class meters on Modbus RTU (socat pty) and Modbus TCP.

Public API:

- :class:`EmulatedMeter`   one meter; ``async with`` it, read ``.port``, ``.inject()`` faults
- :class:`MeterFleet`      N meters at once, one line each (``python -m hardware.emulators``)
- :class:`MeterBus`        several meters on ONE line (RS-485 multi-drop or a TCP gateway)
- :class:`ManualClock`, :class:`AcceleratedClock`   simulated time sources
- :class:`FaultKind`       fault names: timeout, garble, busy, stuck, counter_reset, replace
- :class:`VirtualSerialPair`  a bare socat pty pair
"""

from hardware.emulators.bus import MeterBus
from hardware.emulators.clock import AcceleratedClock, ManualClock, SimClock
from hardware.emulators.faults import FaultKind, parse_fault
from hardware.emulators.fleet import MeterFleet, MeterSpec
from hardware.emulators.meter import EmulatedMeter, Endpoint
from hardware.emulators.vport import VirtualSerialPair

__all__ = [
    "AcceleratedClock",
    "EmulatedMeter",
    "Endpoint",
    "FaultKind",
    "ManualClock",
    "MeterBus",
    "MeterFleet",
    "MeterSpec",
    "SimClock",
    "VirtualSerialPair",
    "parse_fault",
]
