"""Typed gateway settings: environment ``GTX_GW_*`` and/or a TOML file, validated at start.

Sources, highest priority first: environment variables, then the ``--config`` TOML
file, then the defaults below. Nested keys use ``__`` in the environment
(``GTX_GW_UPSTREAM__HOST``) and a table in TOML (``[upstream] host = ...``).

Nothing that identifies or authenticates the gateway has a default: ``gateway_id``,
``upstream.host`` and ``outbox_path`` must be given, and credentials are only used when
set. Unknown keys are errors (a misspelt key must not silently fall back to a default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from common.wire import METER_ID_PATTERN, is_meter_id
from edge_gateway.errors import ConfigError
from hardware.registers import MeterModel, load_model, model_names

__all__ = [
    "DirectMeter", "GatewayConfig", "LocalBroker", "RtuMeter", "TcpMeter", "UpstreamBroker", "load_config",
    "load_meter_keys",
]

ENV_PREFIX = "GTX_GW_"


class _Broker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: int = Field(1883, gt=0, lt=65536)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(None, description="default: gtx-gw-<gateway_id>")
    keepalive_s: int = Field(30, ge=5, le=3600)
    tls_ca: FilePath | None = Field(None, description="CA bundle; turns TLS on")
    tls_cert: FilePath | None = Field(None, description="client certificate (mutual TLS), with tls_key")
    tls_key: FilePath | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _Broker:
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ValueError("tls_cert needs tls_ca (client certificates are only sent over TLS)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_ca is not None


class LocalBroker(_Broker):
    """The site broker the meters publish to (usually mosquitto on the Pi itself)."""

    host: str = "127.0.0.1"
    # The broker keeps the gateway's subscription and unacknowledged readings this
    # long while the gateway is away (MQTT 5 session expiry).
    session_expiry_s: int = Field(7 * 24 * 3600, gt=0)
    # Unacknowledged local messages in flight to the gateway (MQTT 5 receive maximum):
    # when the outbox is full this many wait in memory, the rest in the broker.
    receive_maximum: int = Field(1000, gt=0, le=65535)


class UpstreamBroker(_Broker):
    """The cloud broker the aggregator consumes from."""

    host: str = Field(min_length=1)
    backoff_min_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    # Sending a password over the internet in clear text is refused unless asked for.
    allow_plaintext_credentials: bool = False

    @model_validator(mode="after")
    def _upstream_rules(self) -> UpstreamBroker:
        if self.backoff_max_s < self.backoff_min_s:
            raise ValueError("backoff_max_s must be >= backoff_min_s")
        if self.password is not None and not self.tls and not self.allow_plaintext_credentials:
            raise ValueError("a password without TLS (set tls_ca, or allow_plaintext_credentials = true)")
        return self


class _DirectMeterBase(BaseModel):
    """A meter the gateway polls itself; its readings are signed with the gateway's key."""

    model_config = ConfigDict(extra="forbid")

    meter_id: str = Field(pattern=METER_ID_PATTERN, description="the id registered with the aggregator")
    model: str = Field(description="a register map in hardware/registers (sdm120, sdm630)")
    slave_id: int | None = Field(None, ge=1, le=247, description="Modbus unit id; default: the model's")
    interval_s: int = Field(ge=1, le=86_400, description="seconds between readings (the envelope's int_s)")
    timeout_s: float = Field(1.0, gt=0, le=30, description="answer timeout of one block read")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in model_names():
            raise ValueError(f"no register map for {value!r} (known: {', '.join(model_names())})")
        return value

    @model_validator(mode="after")
    def _timeout_fits(self) -> _DirectMeterBase:
        if self.timeout_s >= self.interval_s:
            raise ValueError("timeout_s must be shorter than interval_s")
        return self

    @property
    def register_map(self) -> MeterModel:
        return load_model(self.model)

    @property
    def unit_id(self) -> int:
        return self.register_map.unit_id if self.slave_id is None else self.slave_id


class TcpMeter(_DirectMeterBase):
    """A meter behind Modbus TCP (a TCP meter, or an RS-485 to TCP converter)."""

    transport: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(502, gt=0, lt=65536)

    @property
    def line(self) -> tuple[str, ...]:
        return ("tcp", self.host, str(self.port))


class RtuMeter(_DirectMeterBase):
    """A meter on an RS-485 line of the Pi (Modbus RTU); serial settings default to the model's."""

    transport: Literal["rtu"]
    device: str = Field(min_length=1, description="serial device, e.g. /dev/serial/by-id/usb-FTDI_...")
    baud: int | None = Field(None, description="default: the model's")
    parity: Literal["N", "E", "O"] | None = None
    stopbits: Literal[1, 2] | None = None

    @model_validator(mode="after")
    def _baud_supported(self) -> RtuMeter:
        codes = self.register_map.baud_codes
        if self.baud is not None and self.baud not in codes:
            supported = ", ".join(map(str, sorted(codes)))
            raise ValueError(f"baud {self.baud} is not one {self.model} supports ({supported})")
        return self

    @property
    def line(self) -> tuple[str, ...]:
        return ("rtu", self.device)

    @property
    def serial(self) -> tuple[int, str, int]:
        """(baud, parity, stopbits), the model's where not set."""
        m = self.register_map
        return (self.baud or m.baud, self.parity or m.parity, self.stopbits or m.stopbits)


DirectMeter = Annotated[TcpMeter | RtuMeter, Field(discriminator="transport")]


_toml_path: ContextVar[Path | None] = ContextVar("gtx_gw_toml_path", default=None)


class GatewayConfig(BaseSettings):
    """Every setting of ``python -m edge_gateway``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    gateway_id: str = Field(pattern=METER_ID_PATTERN, description="this gateway's id (logs, client ids)")
    local: LocalBroker = Field(default_factory=LocalBroker)
    upstream: UpstreamBroker
    outbox_path: Path = Field(description="SQLite outbox file (keep it on persistent storage)")
    outbox_max_messages: int = Field(200_000, gt=0, description="outbox bound; when full, stop acking locally")
    rejects_keep: int = Field(1000, ge=0, description="newest rejected messages kept for inspection")
    batch_size: int = Field(100, ge=1, le=10_000, description="readings per outbox commit / upstream window")
    meter_keys_file: FilePath | None = Field(
        None, description="JSON {meter_id: hex public key}; when set, signatures are verified here too")
    http_host: str = "127.0.0.1"
    http_port: int = Field(9480, ge=0, lt=65536, description="/metrics and /healthz; 0 = any free port")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    direct_meters: list[DirectMeter] = Field(
        default_factory=list, description="meters the gateway polls itself (TOML [[direct_meters]])")
    signing_key_file: Path | None = Field(
        None, description="the gateway's 32-byte Ed25519 seed; created (mode 0600) if missing")

    @model_validator(mode="after")
    def _direct_meters_consistent(self) -> GatewayConfig:
        if self.direct_meters and self.signing_key_file is None:
            raise ValueError("direct_meters need signing_key_file (the gateway signs their readings)")
        ids = [m.meter_id for m in self.direct_meters]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"direct_meters: meter_id used twice: {', '.join(dupes)}")
        lines: dict[tuple[str, ...], list[TcpMeter | RtuMeter]] = {}
        for meter in self.direct_meters:
            lines.setdefault(meter.line, []).append(meter)
        for line, members in lines.items():
            # Meters on one line share one Modbus client (one request at a time on the bus).
            units = [m.unit_id for m in members]
            if len(set(units)) != len(units):
                raise ValueError(f"direct_meters on {':'.join(line[1:])}: two meters with the same slave_id")
            if len({m.timeout_s for m in members}) > 1:
                raise ValueError(f"direct_meters on {':'.join(line[1:])}: timeout_s must be the same")
            if len({m.serial for m in members if isinstance(m, RtuMeter)}) > 1:
                raise ValueError(f"direct_meters on {line[1]}: baud, parity and stopbits must be the same")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def local_client_id(self) -> str:
        # Stable across restarts: the local broker keys the persistent session on it.
        return self.local.client_id or f"gtx-gw-{self.gateway_id}"

    def upstream_client_id(self) -> str:
        return self.upstream.client_id or f"gtx-gw-{self.gateway_id}"

    def redacted(self) -> dict[str, object]:
        """The effective settings as JSON-able data, secrets masked."""
        return json.loads(self.model_dump_json())


def _env_name(loc: tuple[object, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def _dotted(loc: tuple[str, ...]) -> str:
    """``direct_meters[0].tcp.host``: list indices in brackets."""
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        missing = [loc]
        # A whole missing section is reported as the keys it needs, e.g. upstream.host.
        field = GatewayConfig.model_fields.get(loc[0]) if len(loc) == 1 else None
        if err["type"] == "missing" and field is not None and isinstance(field.annotation, type) \
                and issubclass(field.annotation, BaseModel):
            missing = [loc + (name,) for name, f in field.annotation.model_fields.items() if f.is_required()]
        for where in missing:
            # A rule across several keys (value_error) has no single variable to name.
            # Nor does an item of a list (the whole list is one JSON variable).
            hint = f" (env {_env_name(where)})" if where and err["type"] != "value_error" \
                and not any(p.isdigit() for p in where) else ""
            lines.append(f"  {_dotted(where) or '(settings)'}: {err['msg']}{hint}")
    return "invalid gateway configuration:\n" + "\n".join(lines)


def load_config(toml_file: Path | None = None, **overrides: object) -> GatewayConfig:
    """Settings from the environment and ``toml_file``; :class:`ConfigError` if invalid."""
    if toml_file is not None and not Path(toml_file).is_file():
        raise ConfigError(f"config file not found: {toml_file}")
    token = _toml_path.set(Path(toml_file) if toml_file is not None else None)
    try:
        config = GatewayConfig(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # a TOML syntax error surfaces as a ValueError subclass
        raise ConfigError(f"cannot read {toml_file}: {exc}") from None
    finally:
        _toml_path.reset(token)
    if config.meter_keys_file is not None:
        load_meter_keys(config.meter_keys_file)  # fail now, not at the first reading
    if config.signing_key_file is not None:
        # An existing key must be sound now; a missing one is created when the gateway
        # starts. Imported here because edge_gateway.meters imports this module.
        from edge_gateway.meters.signing_key import check_signing_key

        check_signing_key(config.signing_key_file)
    return config


def load_meter_keys(path: Path) -> Mapping[str, bytes]:
    """Read a ``{meter_id: hex public key}`` JSON file; :class:`ConfigError` on any problem."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"meter keys file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"meter keys file {path}: expected a JSON object of meter_id -> hex key")
    keys: dict[str, bytes] = {}
    problems = []
    for meter_id, value in raw.items():
        if not is_meter_id(meter_id):
            problems.append(f"  {meter_id!r}: not a meter id")
            continue
        try:
            key = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            key = b""
        if len(key) != 32:
            problems.append(f"  {meter_id}: public key must be 64 hex characters (32 bytes)")
            continue
        keys[meter_id] = key
    if problems:
        raise ConfigError(f"meter keys file {path}:\n" + "\n".join(problems))
    return keys
