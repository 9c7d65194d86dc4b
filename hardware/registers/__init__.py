"""Declarative register maps for the meters GridTokenX reads.

One TOML file per model lives next to this module (``sdm120.toml``,
``sdm630.toml``). :func:`load_model` parses and validates one; the emulator, the
firmware constants (``firmware/meter/regmap.py``) and ``hardware/docs/registers.md``
are all derived from the result. Regenerate with::

    .venv/bin/python -m hardware.registers gen-firmware
    .venv/bin/python -m hardware.registers gen-docs
    .venv/bin/python -m hardware.registers gen-vectors
    .venv/bin/python -m hardware.registers check     # exit 1 if anything drifted
"""

from hardware.registers.codegen import (
    firmware_regmap,
    generated_files,
    modbus_vectors,
    registers_markdown,
)
from hardware.registers.model import (
    FIRMWARE_FIELDS,
    MAX_READ_REGISTERS,
    FirmwareBlock,
    MeterModel,
    Register,
    load_model,
    model_names,
    parse_model,
)

__all__ = [
    "FIRMWARE_FIELDS",
    "MAX_READ_REGISTERS",
    "FirmwareBlock",
    "MeterModel",
    "Register",
    "firmware_regmap",
    "generated_files",
    "load_model",
    "model_names",
    "modbus_vectors",
    "parse_model",
    "registers_markdown",
]
