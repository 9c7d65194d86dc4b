"""Modbus RTU master: frames, CRC-16/MODBUS, response parsing, timeouts.

The master takes a UART-like object so the same code drives ``machine.UART``
with an RS-485 direction pin on the ESP32 (hw/esp32.py) and a pty in tests
(hw/posix.py). The object needs two methods:

    write(buf)   transmit the whole frame (the adapter owns the DE pin and
                 returns once the last bit has left)
    read(n)      up to n bytes received so far, or None/b"" when there are none;
                 must not block for more than a few milliseconds

Only the request a meter needs is implemented: read a block of input (0x04)
or holding (0x03) registers in one request, so every value in a reading comes
from the same instant.
"""

import time
from array import array

from micropython import const

FC_READ_HOLDING = const(0x03)
FC_READ_INPUT = const(0x04)
_MAX_REGISTERS = const(125)  # Modbus limit for one read request


class ModbusError(Exception):
    """A failed request; ``reason`` is a stable code, ``code`` the exception code.

    Reasons: timeout, crc_mismatch, exception (the slave answered with a Modbus
    exception; ``code`` holds it), unexpected_unit, unexpected_function,
    bad_length, bad_request.
    """

    def __init__(self, reason, detail="", code=0):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.code = code


def _make_table():
    table = array("H", [0] * 256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[i] = crc
    return table


_TABLE = _make_table()


def crc16(data):
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of ``data``."""
    crc = 0xFFFF
    table = _TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def with_crc(body):
    """``body`` followed by its CRC, low byte first (RTU byte order)."""
    crc = crc16(body)
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


def read_request(unit_id, function, start, count):
    """The 8-byte RTU frame for a read of ``count`` registers at ``start``."""
    if not 1 <= unit_id <= 247:
        raise ModbusError("bad_request", "unit id %d" % unit_id)
    if function not in (FC_READ_HOLDING, FC_READ_INPUT):
        raise ModbusError("bad_request", "function %d" % function)
    if not 1 <= count <= _MAX_REGISTERS or not 0 <= start <= 0xFFFF - count + 1:
        raise ModbusError("bad_request", "start %d count %d" % (start, count))
    return with_crc(
        bytes((unit_id, function, start >> 8, start & 0xFF, count >> 8, count & 0xFF))
    )


def expected_length(head):
    """Full response length from its first 3 bytes (unit, function, count/code)."""
    if head[1] & 0x80:
        return 5
    return 3 + head[2] + 2


def parse_read_response(frame, unit_id, function, count):
    """Register data (2*count bytes, big-endian words) from a complete frame."""
    if len(frame) < 5:
        raise ModbusError("bad_length", "%d bytes" % len(frame))
    body = frame[:-2]
    crc = crc16(body)
    if frame[-2] != crc & 0xFF or frame[-1] != crc >> 8:
        raise ModbusError("crc_mismatch")
    if frame[0] != unit_id:
        raise ModbusError("unexpected_unit", "got %d want %d" % (frame[0], unit_id))
    if frame[1] == function | 0x80:
        raise ModbusError("exception", "code %d" % frame[2], frame[2])
    if frame[1] != function:
        raise ModbusError("unexpected_function", "got %d" % frame[1])
    if frame[2] != 2 * count or len(frame) != 5 + 2 * count:
        raise ModbusError("bad_length", "byte count %d for %d registers" % (frame[2], count))
    return bytes(frame[3:-2])


class ModbusMaster:
    """Request/response over one UART-like bus (one request at a time).

    ``timeout_ms`` bounds the wait for the complete response after the
    request has been written; ``baud`` adds the frame's own transmit time.
    """

    def __init__(self, uart, timeout_ms=500, baud=9600):
        self._uart = uart
        self._timeout_ms = timeout_ms
        self._byte_ms = 11000 // baud + 1  # 11 bits per RTU character

    def _drain(self):
        # Bytes left over from an earlier, timed-out exchange would be read as
        # the start of this response.
        stale = self._uart.read(256)
        while stale:
            stale = self._uart.read(256)

    def _receive(self, budget_ms):
        deadline = time.ticks_add(time.ticks_ms(), budget_ms)
        buf = bytearray()
        need = 3
        while len(buf) < need:
            chunk = self._uart.read(need - len(buf))
            if chunk:
                buf.extend(chunk)
                if need == 3 and len(buf) >= 3:
                    need = expected_length(buf)
                continue
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise ModbusError("timeout", "%d of %d bytes" % (len(buf), need))
            time.sleep_ms(1)
        return bytes(buf)

    def read_registers(self, unit_id, start, count, function=FC_READ_INPUT):
        """Read ``count`` registers in one request; returns 2*count data bytes."""
        request = read_request(unit_id, function, start, count)
        self._drain()
        self._uart.write(request)
        budget = self._timeout_ms + (5 + 2 * count) * self._byte_ms
        frame = self._receive(budget)
        return parse_read_response(frame, unit_id, function, count)
