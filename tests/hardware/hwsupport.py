"""Helpers for the hardware tests: real Modbus clients and an independent RTU codec.

The CRC and frame code here is written from the Modbus spec on purpose, separately
from pymodbus and from the emulator, so the tests check the bytes on the wire against
a second implementation instead of against the code under test.
"""

from __future__ import annotations

import asyncio
import os
import select
import struct
import termios
import time
import tty

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from hardware.emulators import EmulatedMeter, MeterBus
from hardware.registers import MeterModel, Register


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), bit by bit."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu_frame(unit_id: int, function: int, payload: bytes) -> bytes:
    """ADU with the CRC appended low byte first."""
    body = bytes([unit_id, function]) + payload
    return body + crc16_modbus(body).to_bytes(2, "little")


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16_modbus(frame[:-2]).to_bytes(2, "little") == frame[-2:]


class RawRtuPort:
    """A raw pty client: write a request, collect whatever comes back until silence."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)

    def close(self) -> None:
        os.close(self.fd)

    async def transact(self, frame: bytes, wait_s: float = 1.0, silence_s: float = 0.05) -> bytes:
        """Send ``frame``; return the bytes received before ``silence_s`` of quiet.

        Returns b"" when nothing arrives within ``wait_s`` (a real timeout).
        """
        os.write(self.fd, frame)
        got = b""
        deadline = time.monotonic() + wait_s
        while True:
            timeout = (deadline - time.monotonic()) if not got else silence_s
            if timeout <= 0:
                return got
            ready = await asyncio.to_thread(select.select, [self.fd], [], [], timeout)
            if not ready[0]:
                return got
            got += os.read(self.fd, 512)


async def client_for(meter: EmulatedMeter | MeterBus, timeout_s: float = 1.0):
    """A connected pymodbus client for the meter's (or bus') transport, no retries."""
    if meter.transport == "rtu":
        client = AsyncModbusSerialClient(
            meter.port, baudrate=meter.serial_settings.baud, timeout=timeout_s, retries=0
        )
    else:
        client = AsyncModbusTcpClient("127.0.0.1", port=meter.tcp_port, timeout=timeout_s, retries=0)
    assert await client.connect(), f"cannot connect to {meter.port}"
    return client


def decode(reg: Register, words: list[int]) -> float | int:
    raw = b"".join(w.to_bytes(2, "big") for w in words)
    fmt = {"float32": ">f", "uint32": ">I", "uint16": ">H"}[reg.type]
    return struct.unpack(fmt, raw)[0] * (reg.scale if reg.type == "float32" else 1)


def request_groups(regs: tuple[Register, ...], max_count: int = 125) -> list[tuple[int, int, list[Register]]]:
    """Cover every register with as few <= max_count read requests as possible."""
    groups: list[tuple[int, int, list[Register]]] = []
    for reg in regs:
        if groups and reg.end - groups[-1][0] <= max_count:
            start, _, members = groups[-1]
            groups[-1] = (start, reg.end - start, members + [reg])
        else:
            groups.append((reg.address, reg.width, [reg]))
    return groups


async def read_all_inputs(client, model: MeterModel, unit_id: int) -> dict[str, float]:
    """Every mapped input register of ``model``, read through ``client``."""
    values: dict[str, float] = {}
    for start, count, members in request_groups(model.inputs):
        resp = await client.read_input_registers(start, count=count, device_id=unit_id)
        assert not resp.isError(), resp
        for reg in members:
            off = reg.address - start
            values[reg.name] = decode(reg, resp.registers[off : off + reg.width])
    return values
