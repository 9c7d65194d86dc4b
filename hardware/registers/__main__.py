"""Command line for the register maps.

    python -m hardware.registers gen-firmware   write firmware/meter/regmap.py
    python -m hardware.registers gen-docs       write hardware/docs/registers.md
    python -m hardware.registers gen-vectors    write hardware/vectors/modbus_rtu_v1.json
    python -m hardware.registers check          exit 1 if a generated file drifted
    python -m hardware.registers show MODEL     print one model's firmware block
"""

from __future__ import annotations

import argparse
import sys

from hardware.errors import RegisterMapError
from hardware.registers.codegen import (
    FIRMWARE_REGMAP,
    MODBUS_VECTORS,
    REGISTERS_DOC,
    firmware_regmap,
    generated_files,
    modbus_vectors,
    registers_markdown,
)
from hardware.registers.model import load_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware.registers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("gen-firmware", help="write firmware/meter/regmap.py")
    sub.add_parser("gen-docs", help="write hardware/docs/registers.md")
    sub.add_parser("gen-vectors", help="write hardware/vectors/modbus_rtu_v1.json")
    sub.add_parser("check", help="fail if a generated file differs from the maps")
    show = sub.add_parser("show", help="print a model's firmware block")
    show.add_argument("model")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "gen-firmware":
            FIRMWARE_REGMAP.parent.mkdir(parents=True, exist_ok=True)
            FIRMWARE_REGMAP.write_text(firmware_regmap(), encoding="utf-8")
            print(f"wrote {FIRMWARE_REGMAP}")
        elif args.cmd == "gen-docs":
            REGISTERS_DOC.write_text(registers_markdown(), encoding="utf-8")
            print(f"wrote {REGISTERS_DOC}")
        elif args.cmd == "gen-vectors":
            MODBUS_VECTORS.parent.mkdir(parents=True, exist_ok=True)
            MODBUS_VECTORS.write_text(modbus_vectors(), encoding="utf-8")
            print(f"wrote {MODBUS_VECTORS}")
        elif args.cmd == "check":
            stale = [p for p, text in generated_files().items()
                     if not p.is_file() or p.read_text(encoding="utf-8") != text]
            for path in stale:
                print(f"stale: {path} (regenerate from hardware/registers)", file=sys.stderr)
            return 1 if stale else 0
        else:
            model = load_model(args.model)
            block = model.firmware_block
            print(f"{model.model}: start={block.start} count={block.count}")
            for field, offset in block.offsets.items():
                print(f"  {field:<20} +{offset}")
    except RegisterMapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
