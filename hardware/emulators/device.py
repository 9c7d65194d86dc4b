"""Turn a register map plus a :class:`MeterState` into a pymodbus ``SimDevice``.

Input and holding registers are declared with pymodbus ``SimData`` straight from the
map (FLOAT32 / UINT32 per register, zero-filled reserved gaps, read-only), so pymodbus
itself answers exception 02 for anything outside the readable ranges and for writes.
The device ``action`` runs on every request: it refreshes the registers from the
meter state (so values are exact at the moment of the read), refuses coil/discrete
functions like an SDM does, and applies the ``busy`` fault.

:class:`WireHooks` sits on pymodbus' packet/PDU trace hooks to act on the bytes on the
wire: silence for other slave ids on RTU, dropped (timeout) and garbled responses.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.simulator import DataType, SimData, SimDevice

from hardware.emulators.faults import FaultKind, FaultPlan, garble_rtu, garble_tcp
from hardware.emulators.state import MeterState
from hardware.registers.model import MeterModel, Register

_SIM_TYPE = {"float32": DataType.FLOAT32, "uint32": DataType.UINT32, "uint16": DataType.UINT16}
_STRUCT = {"float32": ">f", "uint32": ">I", "uint16": ">H"}

#: Register reads the meter serves from the map.
_REGISTER_READS = {3, 4}
#: Function codes an SDM implements (16 only in setup mode, answered with 02 here);
#: anything else (diagnostics 08, report id 17, device id 43...) gets exception 01.
_SUPPORTED_FUNCTIONS = {3, 4, 16}


def encode(reg: Register, value: float | int) -> list[int]:
    """Register words for ``value`` (big-endian, high word first).

    Floats are divided by the register's ``scale`` (register = value / scale);
    integer registers carry the value as is.
    """
    if reg.type == "float32":
        raw = struct.pack(">f", value / reg.scale)
    else:
        raw = struct.pack(_STRUCT[reg.type], int(value))
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _block(regs: tuple[Register, ...], ranges: list[tuple[int, int]]) -> list[SimData]:
    """SimData for every register, plus zero registers for reserved gaps in ``ranges``."""
    out: list[SimData] = []
    for lo, hi in ranges:
        inside = [r for r in regs if lo <= r.address <= hi]
        cursor = lo
        for reg in inside:
            if reg.address > cursor:
                out.append(SimData(cursor, count=reg.address - cursor, values=0,
                                   datatype=DataType.REGISTERS, readonly=True))
            zero = 0.0 if reg.type == "float32" else 0
            out.append(SimData(reg.address, values=zero, datatype=_SIM_TYPE[reg.type], readonly=True))
            cursor = reg.end
        if cursor <= hi:
            out.append(SimData(cursor, count=hi - cursor + 1, values=0,
                               datatype=DataType.REGISTERS, readonly=True))
    return out


class MeterDevice:
    """Builds the ``SimDevice`` for one meter and keeps its registers current."""

    def __init__(self, model: MeterModel, state: MeterState, faults: FaultPlan) -> None:
        self.model = model
        self.state = state
        self.faults = faults
        #: requests that reached the register map (for status output)
        self.requests = 0

    def sim_device(self) -> SimDevice:
        """The pymodbus device: (coils, discretes, holding, input) in separate blocks."""
        m = self.model
        # SDMs have no coils or discrete inputs; pymodbus needs a non-empty block, so
        # one read-only word is declared and the action answers exception 01 for it.
        no_bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS, readonly=True)]
        return SimDevice(
            id=self.state.unit_id,
            simdata=(
                list(no_bits),
                list(no_bits),
                _block(m.holdings, [m.holding_range, m.serial_range]),
                _block(m.inputs, [m.input_range]),
            ),
            action=self.action,
        )

    @staticmethod
    def _refresh(
        regs: tuple[Register, ...],
        lookup: Callable[[Register], float | int],
        start: int,
        registers: list[int],
    ) -> None:
        """Write each register's current value into the block list pymodbus serves."""
        for reg in regs:
            words = encode(reg, lookup(reg))
            off = reg.address - start
            if 0 <= off and off + len(words) <= len(registers):
                registers[off : off + len(words)] = words

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Per-request hook: refuse unsupported functions, apply busy, refresh values."""
        self.requests += 1
        if function_code not in _REGISTER_READS:
            return ExcCodes.ILLEGAL_FUNCTION
        if self.faults.take(FaultKind.BUSY):
            return ExcCodes.DEVICE_BUSY
        if function_code == 4:
            inputs = self.state.input_values()
            self._refresh(self.model.inputs, lambda r: inputs[(r.quantity, r.phase)],
                          start_address, registers)
        else:
            # One list holds the config registers and, far above, the serial block;
            # offsets are from the list's start address.
            holding = self.state.holding_values()
            self._refresh(self.model.holdings, lambda r: holding[r.quantity],
                          start_address, registers)
        return None


class WireHooks:
    """pymodbus trace hooks that make faults and bus behaviour real on the wire."""

    def __init__(
        self, plans: dict[int, FaultPlan], rtu: bool, line_ok: Callable[[], bool] | None = None
    ) -> None:
        #: unit id -> that unit's response faults; other unit ids are not on this line
        self.plans = plans
        self.rtu = rtu
        #: False while the client's serial settings cannot produce a valid frame
        self.line_ok = line_ok
        self.frames_sent = 0
        self.frames_dropped = 0
        #: function code and register count of the request being answered
        self._request_fc = 0
        self._request_count = 0

    def trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        """Fix up responses where pymodbus differs from a meter.

        - On TCP, a request for another unit id gets exception 0B like a gateway's.
        - A register read of more than 125 registers is rejected by pymodbus' decoder
          as "function 0x80, exception 01"; an SDM answers exception 03 (illegal
          data value) for the function that was asked.
        - pymodbus implements diagnostics, report-server-id and device
          identification itself; an SDM answers those with exception 01.
        """
        if not sending:
            return pdu
        fc = self._request_fc
        if fc in _REGISTER_READS and self._request_count > 125 and isinstance(pdu, ExceptionResponse):
            pdu = self._exception(pdu, fc, ExcCodes.ILLEGAL_VALUE)
        elif fc and fc not in _SUPPORTED_FUNCTIONS:
            pdu = self._exception(pdu, fc, ExcCodes.ILLEGAL_FUNCTION)
        if not self.rtu and pdu.dev_id not in self.plans:
            pdu = self._exception(pdu, pdu.function_code & 0x7F, ExcCodes.GATEWAY_NO_RESPONSE)
        return pdu

    @staticmethod
    def _exception(pdu: ModbusPDU, function_code: int, code: ExcCodes) -> ExceptionResponse:
        reply = ExceptionResponse(function_code, code)
        reply.dev_id = pdu.dev_id
        reply.transaction_id = pdu.transaction_id
        return reply

    def trace_packet(self, sending: bool, data: bytes) -> bytes:
        """Outgoing frames: silence, drop or garble; incoming frames pass unchanged."""
        if not sending:
            pdu = data if self.rtu else data[6:]
            self._request_fc = pdu[1] if len(pdu) >= 2 else 0
            self._request_count = int.from_bytes(pdu[4:6], "big") if len(pdu) >= 6 else 0
            return data
        if not data:
            return data
        dev_id = data[0] if self.rtu else data[6]
        if self.line_ok is not None and not self.line_ok():
            # At the wrong baud the meter only sees framing errors: it never answers.
            self.frames_dropped += 1
            return b""
        plan = self.plans.get(dev_id)
        if plan is None:
            # On a shared RS-485 bus only the addressed slave answers; broadcasts
            # (unit 0) are never answered. (On TCP, trace_pdu made this an 0B.)
            if self.rtu:
                self.frames_dropped += 1
                return b""
            self.frames_sent += 1
            return data
        if plan.take(FaultKind.TIMEOUT):
            self.frames_dropped += 1
            return b""
        if plan.take(FaultKind.GARBLE):
            data = garble_rtu(data) if self.rtu else garble_tcp(data)
        self.frames_sent += 1
        return data
