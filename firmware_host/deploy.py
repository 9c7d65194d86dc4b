"""Deploy the meter firmware to an ESP32 with mpremote.

    .venv/bin/python -m firmware_host.deploy --help

Subcommands (PORT is the board's USB serial port, e.g. /dev/ttyUSB0):

    build                       compile with mpy-cross (the build gate) only
    install --port P [--config F]
                                build, copy every file, optionally set the
                                config, reset the board
    config --port P FILE        validate FILE with the firmware's own validator,
                                then copy it to the board as /config.json
    pubkey --port P             print the device public key (hex) for
                                registration; the key is generated on the
                                device on first use and never leaves it
    new-key --port P --yes      delete the device key and print the new one
                                (the meter must be registered again)

``--dry-run`` prints the mpremote command lines instead of running them.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from firmware_host.build import FIRMWARE_DIR, BuildError, build

PUBKEY_PREFIX = "key: public "


class DeployError(RuntimeError):
    """A deploy step failed; ``reason``: bad_config, build_failed, mpremote_failed,
    no_public_key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def mpremote_bin() -> str:
    local = Path(sys.executable).with_name("mpremote")
    return str(local) if local.exists() else "mpremote"


def validate_config(path: Path) -> None:
    """Run firmware/config.py (the validator the device runs at boot) on CPython."""
    sys.path.insert(0, str(FIRMWARE_DIR))
    try:
        import config as fw_config

        try:
            fw_config.load(str(path))
        except fw_config.ConfigError as exc:
            raise DeployError("bad_config", f"{path}: {exc}") from None
    finally:
        sys.path.pop(0)
        for name in ("config", "section", "meter", "meter.regmap", "wire"):
            sys.modules.pop(name, None)


def copy_plan(build_dir: Path) -> list[list[str]]:
    """mpremote argument groups that create the folders and copy every file."""
    files = sorted(p for p in build_dir.rglob("*") if p.is_file())
    dirs = sorted({p.parent.relative_to(build_dir).as_posix() for p in files} - {"."})
    lines = ["import os"]
    for d in dirs:
        parent, _, name = d.rpartition("/")
        listing = f"os.listdir({parent!r})" if parent else "os.listdir()"
        lines.append(f"if {name!r} not in {listing}: os.mkdir({d!r})")
    mkdirs = "\n".join(lines) + "\n"
    plan = [["exec", mkdirs]]
    for f in files:
        plan.append(["fs", "cp", str(f), ":" + f.relative_to(build_dir).as_posix()])
    return plan


class Runner:
    """Runs (or, with dry_run, prints) one mpremote invocation per call."""

    def __init__(self, port: str, dry_run: bool) -> None:
        self.port = port
        self.dry_run = dry_run

    def __call__(self, *groups: list[str]) -> str:
        argv = [mpremote_bin(), "connect", self.port]
        for i, group in enumerate(groups):
            if i:
                argv.append("+")
            argv += group
        if self.dry_run:
            print(shlex.join(argv))
            return ""
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError("mpremote_failed", proc.stderr.strip() or proc.stdout.strip())
        return proc.stdout


def cmd_build(args: argparse.Namespace) -> None:
    try:
        files = build(Path(args.out))
    except BuildError as exc:
        raise DeployError("build_failed", str(exc)) from None
    print(f"built {len(files)} files into {args.out}")


def cmd_install(args: argparse.Namespace) -> None:
    if args.config:
        validate_config(Path(args.config))
    run = Runner(args.port, args.dry_run)
    with tempfile.TemporaryDirectory(prefix="gtx-fw-") as tmp:
        try:
            build(Path(tmp))
        except BuildError as exc:
            raise DeployError("build_failed", str(exc)) from None
        run(*copy_plan(Path(tmp)))
    if args.config:
        run(["fs", "cp", str(args.config), ":config.json"])
    run(["reset"])
    print("installed; the board is resetting")


def cmd_config(args: argparse.Namespace) -> None:
    validate_config(Path(args.file))
    Runner(args.port, args.dry_run)(["fs", "cp", str(args.file), ":config.json"])
    print(f"config {args.file} copied to {args.port}")


def _print_pubkey(run: Runner) -> None:
    out = run(["exec", "import start\nstart.print_public_key()\n"])
    if run.dry_run:
        return
    for line in out.splitlines():
        if line.startswith(PUBKEY_PREFIX):
            print(line[len(PUBKEY_PREFIX):].strip())
            return
    raise DeployError("no_public_key", out.strip())


def cmd_pubkey(args: argparse.Namespace) -> None:
    _print_pubkey(Runner(args.port, args.dry_run))


def cmd_new_key(args: argparse.Namespace) -> None:
    if not args.yes:
        raise DeployError("bad_config", "new-key replaces the registered identity; pass --yes")
    run = Runner(args.port, args.dry_run)
    run(["exec", "import os\nif 'key.ed25519' in os.listdir(): os.remove('key.ed25519')\n"])
    _print_pubkey(run)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m firmware_host.deploy",
        description="Build and deploy the GridTokenX meter firmware to an ESP32 with mpremote.",
        epilog="Example: python -m firmware_host.deploy install --port /dev/ttyUSB0 --config site.json",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def port_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--port", required=True, help="board serial port, e.g. /dev/ttyUSB0")
        sp.add_argument("--dry-run", action="store_true", help="print mpremote commands only")

    sp = sub.add_parser("build", help="compile with mpy-cross (the build gate)")
    sp.add_argument("--out", default="var/firmware-build", help="output directory")
    sp.set_defaults(func=cmd_build)

    sp = sub.add_parser("install", help="build, copy all files (and config), reset")
    port_opt(sp)
    sp.add_argument("--config", help="config.json to validate and copy as well")
    sp.set_defaults(func=cmd_install)

    sp = sub.add_parser("config", help="validate a config file and copy it to the board")
    port_opt(sp)
    sp.add_argument("file", help="config JSON (see firmware/README.md)")
    sp.set_defaults(func=cmd_config)

    sp = sub.add_parser("pubkey", help="print the device public key for registration")
    port_opt(sp)
    sp.set_defaults(func=cmd_pubkey)

    sp = sub.add_parser("new-key", help="replace the device key (re-register the meter)")
    port_opt(sp)
    sp.add_argument("--yes", action="store_true", help="confirm replacing the key")
    sp.set_defaults(func=cmd_new_key)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
