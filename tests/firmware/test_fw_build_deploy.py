"""Build gate (every firmware module compiles with mpy-cross) and the
mpremote deploy script's command plan."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_host.build import FIRMWARE_DIR, MANIFEST, BuildError, build, device_sources

ROOT = Path(__file__).parents[2]


def test_every_device_module_compiles(tmp_path: Path) -> None:
    files = build(tmp_path / "out")
    sources = device_sources()
    assert len(files) == len(sources) and len(sources) > 15
    names = {f.relative_to(tmp_path / "out").as_posix() for f in files}
    assert {"boot.py", "main.py", "app.mpy", "signing/ed25519.mpy", "meter/regmap.mpy"} <= names
    assert not any(n.startswith(("deploy", "build")) for n in names)


def test_the_manifest_lists_every_module_of_the_device_tree() -> None:
    """Host tools live in firmware_host/; everything under firmware/ goes on the device,
    and MANIFEST.txt says so file by file."""
    on_disk = sorted(p.relative_to(FIRMWARE_DIR) for p in FIRMWARE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    assert device_sources() == on_disk


def test_cpython_only_syntax_fails_the_gate(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIRMWARE_DIR, src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "transport" / "broken.py").write_text("def f[T](x: T) -> T:\n    return x\n")
    with (src / MANIFEST).open("a") as manifest:
        manifest.write("transport/broken.py\n")
    with pytest.raises(BuildError, match="transport/broken.py"):
        build(tmp_path / "out", src)


def _deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "firmware_host.deploy", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=60)


def test_deploy_help_lists_every_command() -> None:
    out = _deploy("--help")
    assert out.returncode == 0
    for cmd in ("build", "install", "config", "pubkey", "new-key"):
        assert cmd in out.stdout
    sub = _deploy("install", "--help")
    assert "--port" in sub.stdout and "--config" in sub.stdout and "--dry-run" in sub.stdout


def test_install_plan_copies_every_file_and_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "site.json"
    cfg.write_text(json.dumps({
        "meter_id": "mtr-0001", "wifi": {"ssid": "lan", "password": "pw"},
        "broker": {"host": "10.0.0.2"}, "meter": {"model": "sdm630", "slave_id": 2},
        "interval_s": 60}))
    out = _deploy("install", "--port", "/dev/ttyUSB0", "--dry-run", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    plan = out.stdout
    for rel in device_sources():
        target = rel.as_posix() if rel.name in ("boot.py", "main.py") else rel.with_suffix(".mpy").as_posix()
        assert f":{target}" in plan, target
    assert f"fs cp {cfg} :config.json" in plan
    assert "connect /dev/ttyUSB0 reset" in plan


def test_bad_config_is_refused_before_touching_the_board(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"meter_id": "mtr-1", "wifi": {"ssid": "x", "password": ""},
                               "broker": {"host": "h", "prot": 1}, "meter": {"model": "sdm120",
                               "slave_id": 1}, "interval_s": 60}))
    out = _deploy("config", "--port", "/dev/ttyUSB0", "--dry-run", str(cfg))
    assert out.returncode == 2
    assert "bad_config" in out.stderr and "unknown_key: broker.prot" in out.stderr
    assert out.stdout == ""


def test_pubkey_and_new_key_plans() -> None:
    out = _deploy("pubkey", "--port", "/dev/ttyACM0", "--dry-run")
    assert out.returncode == 0 and "start.print_public_key()" in out.stdout
    refused = _deploy("new-key", "--port", "/dev/ttyACM0", "--dry-run")
    assert refused.returncode == 2 and "--yes" in refused.stderr
