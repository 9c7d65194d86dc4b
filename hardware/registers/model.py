"""Load and validate the declarative register maps in ``hardware/registers/*.toml``.

The TOML files are data; this module turns them into frozen dataclasses and refuses
anything a real meter could not serve: overlapping registers, registers outside the
readable range, an unknown quantity, or a firmware block that does not fit in one
read-input-registers request. Every consumer (emulator, firmware generator, docs)
goes through :func:`load_model`, so an inconsistency fails in one place.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hardware.errors import RegisterMapError

MAP_DIR = Path(__file__).resolve().parent

#: Registers each data type occupies.
TYPE_WIDTH = {"float32": 2, "uint32": 2, "uint16": 1}

#: Fields every model must offer to the firmware's one-block read (contract).
FIRMWARE_FIELDS = (
    "voltage_v",
    "current_a",
    "active_power_w",
    "power_factor",
    "frequency_hz",
    "import_energy_kwh",
    "export_energy_kwh",
)

#: Quantities the emulator can compute; phase 0 is the system value, 1..3 per phase.
INPUT_QUANTITIES = frozenset(
    {
        "voltage_v",
        "current_a",
        "active_power_w",
        "apparent_power_va",
        "reactive_power_var",
        "power_factor",
        "phase_angle_deg",
        "frequency_hz",
        "import_energy_kwh",
        "export_energy_kwh",
        "import_reactive_energy_kvarh",
        "export_reactive_energy_kvarh",
        "total_energy_kwh",
        "total_reactive_energy_kvarh",
        "average_voltage_v",
        "average_current_a",
        "sum_current_a",
        "l1_l2_voltage_v",
        "l2_l3_voltage_v",
        "l3_l1_voltage_v",
        "average_line_voltage_v",
    }
)
HOLDING_QUANTITIES = frozenset(
    {"parity_stop_code", "unit_id", "baud_code", "serial_number", "meter_code"}
)

#: Largest register count of one read-input-registers request (Modbus spec).
MAX_READ_REGISTERS = 125


@dataclass(frozen=True)
class Register:
    """One mapped value: where it lives on the wire and what it means."""

    name: str
    address: int
    type: str
    unit: str
    quantity: str
    phase: int
    description: str
    scale: float = 1.0

    @property
    def width(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return TYPE_WIDTH[self.type]

    @property
    def end(self) -> int:
        """First address after this register."""
        return self.address + self.width


@dataclass(frozen=True)
class FirmwareBlock:
    """The single read-input-registers request the firmware issues per interval."""

    start: int
    count: int
    #: product field name -> register offset from ``start`` (float32, 2 registers)
    offsets: dict[str, int]


@dataclass(frozen=True)
class MeterModel:
    """A meter model's serial settings and complete register map."""

    model: str
    description: str
    phases: int
    unit_id: int
    baud: int
    parity: str
    stopbits: int
    bytesize: int
    input_range: tuple[int, int]
    holding_range: tuple[int, int]
    serial_range: tuple[int, int]
    baud_codes: dict[int, int]
    meter_code: int
    inputs: tuple[Register, ...]
    holdings: tuple[Register, ...]
    firmware_fields: dict[str, str]

    def input(self, name: str) -> Register:
        """Input register by name; raises ``RegisterMapError(unknown_register)``."""
        for reg in self.inputs:
            if reg.name == name:
                return reg
        raise RegisterMapError("unknown_register", f"{self.model} has no input {name!r}")

    def holding(self, name: str) -> Register:
        """Holding register by name; raises ``RegisterMapError(unknown_register)``."""
        for reg in self.holdings:
            if reg.name == name:
                return reg
        raise RegisterMapError("unknown_register", f"{self.model} has no holding {name!r}")

    @property
    def firmware_block(self) -> FirmwareBlock:
        """Smallest block covering every firmware field, checked against the 125 limit."""
        regs = {field: self.input(reg) for field, reg in self.firmware_fields.items()}
        start = min(r.address for r in regs.values())
        end = max(r.end for r in regs.values())
        offsets = {field: r.address - start for field, r in regs.items()}
        return FirmwareBlock(start=start, count=end - start, offsets=offsets)


def _require(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise RegisterMapError("missing_key", f"{where}: missing {key!r}")
    return table[key]


def _registers(
    rows: list[dict[str, Any]], quantities: frozenset[str], where: str
) -> tuple[Register, ...]:
    regs = []
    for i, row in enumerate(rows):
        here = f"{where}[{i}]"
        known = {f for f in Register.__dataclass_fields__}
        if extra := set(row) - known:
            raise RegisterMapError("unknown_key", f"{here}: unknown keys {sorted(extra)}")
        reg = Register(
            name=_require(row, "name", here),
            address=_require(row, "address", here),
            type=_require(row, "type", here),
            unit=_require(row, "unit", here),
            quantity=_require(row, "quantity", here),
            phase=row.get("phase", 0),
            description=_require(row, "description", here),
            scale=float(row.get("scale", 1.0)),
        )
        if reg.type not in TYPE_WIDTH:
            raise RegisterMapError("bad_type", f"{here}: type {reg.type!r}")
        if reg.quantity not in quantities:
            raise RegisterMapError("unknown_quantity", f"{here}: {reg.quantity!r}")
        regs.append(reg)
    return tuple(sorted(regs, key=lambda r: r.address))


def _check_layout(regs: tuple[Register, ...], ranges: list[tuple[int, int]], where: str) -> None:
    names = [r.name for r in regs]
    if len(set(names)) != len(names):
        raise RegisterMapError("duplicate_name", f"{where}: duplicate register names")
    for prev, cur in zip(regs, regs[1:]):
        if cur.address < prev.end:
            raise RegisterMapError(
                "overlap", f"{where}: {cur.name} at {cur.address} overlaps {prev.name}"
            )
    for reg in regs:
        if not any(lo <= reg.address and reg.end - 1 <= hi for lo, hi in ranges):
            raise RegisterMapError(
                "outside_range", f"{where}: {reg.name} at {reg.address} outside {ranges}"
            )


def parse_model(data: dict[str, Any], source: str) -> MeterModel:
    """Build and validate a :class:`MeterModel` from parsed TOML."""
    meter = _require(data, "meter", source)
    model = MeterModel(
        model=_require(meter, "model", source),
        description=_require(meter, "description", source),
        phases=_require(meter, "phases", source),
        unit_id=_require(meter, "unit_id", source),
        baud=_require(meter, "baud", source),
        parity=_require(meter, "parity", source),
        stopbits=_require(meter, "stopbits", source),
        bytesize=_require(meter, "bytesize", source),
        input_range=tuple(_require(meter, "input_range", source)),
        holding_range=tuple(_require(meter, "holding_range", source)),
        serial_range=tuple(_require(meter, "serial_range", source)),
        baud_codes={int(k): v for k, v in _require(meter, "baud_codes", source).items()},
        meter_code=_require(meter, "meter_code", source),
        inputs=_registers(_require(data, "input", source), INPUT_QUANTITIES, source),
        holdings=_registers(_require(data, "holding", source), HOLDING_QUANTITIES, source),
        firmware_fields=dict(_require(data, "firmware_fields", source)),
    )
    if model.phases not in (1, 3):
        raise RegisterMapError("bad_phases", f"{source}: phases must be 1 or 3")
    if not 1 <= model.unit_id <= 247:
        raise RegisterMapError("bad_unit_id", f"{source}: unit_id {model.unit_id}")
    if model.baud not in model.baud_codes:
        raise RegisterMapError("bad_baud", f"{source}: baud {model.baud} has no code")
    _check_layout(model.inputs, [model.input_range], f"{source} input")
    _check_layout(
        model.holdings, [model.holding_range, model.serial_range], f"{source} holding"
    )
    if sorted(model.firmware_fields) != sorted(FIRMWARE_FIELDS):
        raise RegisterMapError(
            "firmware_fields", f"{source}: firmware_fields must be exactly {FIRMWARE_FIELDS}"
        )
    for field, reg_name in model.firmware_fields.items():
        if model.input(reg_name).type != "float32":
            raise RegisterMapError("firmware_type", f"{source}: {field} is not float32")
    if model.firmware_block.count > MAX_READ_REGISTERS:
        raise RegisterMapError(
            "block_too_large",
            f"{source}: firmware block of {model.firmware_block.count} registers > 125",
        )
    return model


def model_names() -> list[str]:
    """Models with a map file, sorted (``sdm120``, ``sdm630``...)."""
    return sorted(p.stem for p in MAP_DIR.glob("*.toml"))


@cache
def load_model(name: str) -> MeterModel:
    """Load ``hardware/registers/<name>.toml``; cached because maps never change at run time."""
    path = MAP_DIR / f"{name}.toml"
    if not path.is_file():
        raise RegisterMapError("unknown_model", f"no register map {path.name} (have {model_names()})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegisterMapError("bad_toml", f"{path.name}: {exc}") from exc
    model = parse_model(data, path.name)
    if model.model != name:
        raise RegisterMapError("name_mismatch", f"{path.name} declares model {model.model!r}")
    return model
