"""Run the meter firmware on the MicroPython unix port, as the demo, tests and benches do.

The firmware is compiled with mpy-cross (as deployed) and run on ``.venv/bin/micropython
-X heapsize=...``, which emulates the ESP32's RAM limit. The interpreter prints uncaught
tracebacks to stdout and exits with status 1.

- :func:`build_firmware` compiles firmware/ into a directory.
- :func:`write_config` writes a validated-at-boot config.json into a data dir.
- :func:`device_public_key` boots the key store only, as ``firmware_host.deploy pubkey`` does
  on a device: the key is generated on first use and its public half is what gets registered.
- :func:`start_firmware` / :func:`run_firmware` run ``app.run(max_readings)`` as an asyncio
  subprocess, so an emulated meter served from the caller's event loop keeps answering
  Modbus requests meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_host.build import build
from firmware_host.deploy import PUBKEY_PREFIX

MICROPYTHON = Path(sys.executable).with_name("micropython")
FIRMWARE_HEAP = "64K"

__all__ = [
    "FIRMWARE_HEAP",
    "MICROPYTHON",
    "MpResult",
    "build_firmware",
    "device_public_key",
    "firmware_script",
    "run_firmware",
    "start_firmware",
    "write_config",
]


@dataclass
class MpResult:
    returncode: int
    stdout: str
    stderr: str

    def lines(self, prefix: str) -> list[str]:
        """Output lines that start with ``prefix`` (prefix stripped)."""
        return [ln[len(prefix) :] for ln in self.stdout.splitlines() if ln.startswith(prefix)]

    def json_lines(self, prefix: str) -> list[object]:
        return [json.loads(x) for x in self.lines(prefix)]

    def check(self) -> MpResult:
        if self.returncode != 0:
            raise AssertionError(
                f"micropython exited {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            )
        return self


def build_firmware(out_dir: Path) -> Path:
    """Compile the firmware into ``out_dir`` and return it."""
    build(out_dir)
    return out_dir


def write_config(data_dir: Path, *, meter_id: str, host: str, port: int, device: str,
                 model: str = "sdm120", interval_s: int = 1, **top: Any) -> dict[str, Any]:
    """Write ``data_dir/config.json`` for the unix port; returns the dict."""
    broker = {"host": host, "port": port, "keepalive_s": 30, "timeout_ms": 2000,
              "backoff_initial_ms": 100, "backoff_max_ms": 400}
    broker.update(top.pop("broker", {}))
    meter = {"model": model, "slave_id": 1, "device": device, "timeout_ms": 1000}
    meter.update(top.pop("meter", {}))
    cfg = {
        "meter_id": meter_id,
        "wifi": {"ssid": "unused-on-unix", "password": ""},
        "broker": broker,
        "meter": meter,
        "interval_s": interval_s,
        "ring_slots": 64,
        **top,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.json").write_text(json.dumps(cfg))
    return cfg


def firmware_script(max_readings: int) -> str:
    """main.py's boot sequence, with a reading limit; exits with status 3 if records
    were left undelivered."""
    return (
        "import sys\nimport start\napp = start.boot()\ndel start\n"
        f"sys.modules.pop('start')\nif app.run({max_readings}):\n    sys.exit(3)\n"
    )


# What `firmware_host.deploy pubkey` executes over a device's REPL.
PUBKEY_SCRIPT = "import start\nstart.print_public_key()\n"


def _argv(script: str, heap: str) -> list[str]:
    return [str(MICROPYTHON), "-X", f"heapsize={heap}", "-c", script]


async def start_firmware(build_dir: Path, data_dir: Path, script: str,
                         heap: str = FIRMWARE_HEAP) -> asyncio.subprocess.Process:
    """Start the firmware: ``script`` runs in the build dir, as on the device.

    MicroPython interns every module's file path; running from the build dir
    (sys.path entry "") keeps those paths as short as on the device's flash.
    """
    env = {**os.environ, "GTX_DATA_DIR": str(data_dir) + "/"}
    return await asyncio.create_subprocess_exec(
        *_argv(script, heap),
        cwd=build_dir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_firmware(build_dir: Path, data_dir: Path, max_readings: int,
                       heap: str = FIRMWARE_HEAP, timeout_s: float = 90,
                       script: str | None = None) -> MpResult:
    """Run the firmware until it took ``max_readings`` readings and drained."""
    proc = await start_firmware(build_dir, data_dir, script or firmware_script(max_readings), heap)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"firmware did not finish in {timeout_s} s\n{out.decode()}\n{err.decode()}") from None
    finally:
        if proc.returncode is None:  # cancelled: the interpreter must not outlive its caller
            proc.kill()
            await proc.wait()
    return MpResult(proc.returncode or 0, out.decode(), err.decode())


async def device_public_key(build_dir: Path, data_dir: Path, timeout_s: float = 30) -> bytes:
    """The device's Ed25519 public key, generating the key on first use."""
    result = (await run_firmware(build_dir, data_dir, 0, timeout_s=timeout_s, script=PUBKEY_SCRIPT)).check()
    keys = result.lines(PUBKEY_PREFIX)
    if not keys:
        raise AssertionError(f"the firmware printed no public key\n{result.stdout}")
    return bytes.fromhex(keys[-1].strip())
