"""``python -m hardware.emulators``: N meters, printed endpoints, clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

REPO = Path(__file__).resolve().parents[2]


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, list[dict]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hardware.emulators", "--json", *args, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    endpoints = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line, (await proc.stderr.read()).decode()
        if line.strip() == b"ready":
            return proc, endpoints
        endpoints.append(json.loads(line))


async def _stop(proc: asyncio.subprocess.Process) -> bytes:
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    return out


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
async def test_command_starts_n_meters_and_stops_cleanly(transport, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    proc, endpoints = await _start("-n", "3", "--transport", transport, "--model", "sdm630",
                                   "--acceleration", "60", "--link-dir", str(links))
    try:
        assert [e["index"] for e in endpoints] == [0, 1, 2]
        assert len({e["address"] for e in endpoints}) == 3
        for ep in endpoints:
            if transport == "rtu":
                assert Path(ep["address"]).parent == links
                client = AsyncModbusSerialClient(ep["address"], baudrate=ep["baud"], timeout=2, retries=0)
            else:
                host, port = ep["address"].rsplit(":", 1)
                client = AsyncModbusTcpClient(host, port=int(port), timeout=2, retries=0)
            assert await client.connect()
            resp = await client.read_input_registers(0x46, count=2, device_id=ep["unit_id"])
            client.close()
            assert not resp.isError(), resp
            freq = client.convert_from_registers(resp.registers, client.DATATYPE.FLOAT32)
            assert 49.9 < freq < 50.1
    finally:
        out = await _stop(proc)
    assert out.strip().endswith(b"stopped")
    assert list(links.iterdir()) == []  # ptys and socat logs removed


async def test_command_rejects_unknown_fault():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hardware.emulators", "--fault", "lightning", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2 and b"unknown_fault" in err


async def test_help_lists_options():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hardware.emulators", "--help", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0
    for option in (b"--count", b"--transport", b"--acceleration", b"--fault", b"--json"):
        assert option in out


async def test_control_commands_inject_faults_in_a_running_fleet():
    proc, endpoints = await _start("-n", "2", "--transport", "tcp", "--control")

    async def command(line: str) -> str:
        proc.stdin.write(line.encode() + b"\n")
        await proc.stdin.drain()
        return (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode().strip()

    host, port = endpoints[1]["address"].rsplit(":", 1)
    client = AsyncModbusTcpClient(host, port=int(port), timeout=0.5, retries=0)
    try:
        assert await client.connect()
        assert await command("inject 1 timeout:1") == "ok"
        with pytest.raises(ModbusIOException):
            await client.read_input_registers(0, count=2, device_id=1)
        assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
        assert await command("inject 1 busy") == "ok"
        assert json.loads(await command("status 1"))["faults"] == {"busy": None}
        assert (await client.read_input_registers(0, count=2, device_id=1)).exception_code == 6
        assert await command("clear 1") == "ok"
        assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
        assert (await command("inject 7 busy")).startswith("error: bad_index")
        assert (await command("inject 0 lightning")).startswith("error: unknown_fault")
    finally:
        client.close()
    proc.stdin.write(b"quit\n")
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    assert out.strip().endswith(b"stopped")


async def test_command_bus_puts_meters_on_one_line():
    proc, endpoints = await _start("-n", "3", "--bus", "--unit-id", "10")
    try:
        assert len({e["address"] for e in endpoints}) == 1
        assert [e["unit_id"] for e in endpoints] == [10, 11, 12]
        client = AsyncModbusSerialClient(endpoints[0]["address"], baudrate=9600, timeout=2, retries=0)
        assert await client.connect()
        try:
            serials = set()
            for ep in endpoints:
                resp = await client.read_holding_registers(0xFC00, count=2, device_id=ep["unit_id"])
                assert not resp.isError(), resp
                serials.add(client.convert_from_registers(resp.registers, client.DATATYPE.UINT32))
            assert len(serials) == 3
        finally:
            client.close()
    finally:
        out = await _stop(proc)
    assert out.strip().endswith(b"stopped")
