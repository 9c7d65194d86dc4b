"""The firmware type-checks against the MicroPython ESP32 port's API.

hw/esp32.py (machine.UART, Pin, WDT, network.WLAN, ntptime) is the one
firmware module no test here can execute; mypy with micropython-esp32-stubs
(and the MicroPython stdlib stubs as typeshed) is what checks it. The rest
of the firmware is checked the same way, so a CPython-only API slips through
neither mpy-cross nor this test.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from mypy import api

from firmware_host.build import FIRMWARE_DIR, device_sources


def _dist_root(dist: str) -> tuple[Path, set[str]]:
    """(site-packages dir, top-level names) of an installed stub distribution."""
    files = metadata.files(dist) or []
    top = {f.parts[0] for f in files if not f.parts[0].endswith(".dist-info")}
    root = Path(metadata.distribution(dist).locate_file(""))
    return root, top


def test_firmware_typechecks_against_esp32_stubs(tmp_path: Path) -> None:
    esp_root, esp_top = _dist_root("micropython-esp32-stubs")
    std_root, _ = _dist_root("micropython-stdlib-stubs")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in esp_top:
        (stubs / name).symlink_to(esp_root / name)
    typeshed = tmp_path / "typeshed"
    typeshed.mkdir()
    for part in ("stdlib", "stubs"):  # stubs/: mypy-extensions, which mypy itself needs
        (typeshed / part).symlink_to(std_root / part)
    stub_modules = sorted({n.removesuffix(".pyi") for n in esp_top if n != "__builtins__.pyi"})
    cfg = tmp_path / "mypy.ini"
    cfg.write_text(
        "[mypy]\n"
        "python_version = 3.11\n"
        "check_untyped_defs = True\n"
        "explicit_package_bases = True\n"
        "warn_unused_ignores = True\n"
        f"mypy_path = {stubs}:{FIRMWARE_DIR}\n"
        # The stubs' own inconsistencies are not the firmware's errors.
        f"[mypy-{','.join(m + ',' + m + '.*' for m in stub_modules)}]\n"
        "ignore_errors = True\n"
        # hw/posix.py targets the unix port, which has termios; the ESP32 has not.
        "[mypy-termios]\n"
        "ignore_missing_imports = True\n"
    )
    files = [str(FIRMWARE_DIR / rel) for rel in device_sources()]
    out, err, status = api.run([
        "--config-file", str(cfg), "--custom-typeshed-dir", str(typeshed),
        "--no-incremental", "--cache-dir", str(tmp_path / "cache"), *files,
    ])
    assert status == 0, out + err
