"""Typed settings for the aggregator (environment prefix ``GTX_``).

Every knob that changes what a reading must satisfy lives here, so an operator can see
the whole validation policy in one place. Unknown ``GTX_`` variables are not silently
ignored by pydantic-settings, but a typo in a field name would be: keep names explicit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.wire import MAX_WIRE_BYTES, READINGS_TOPIC_FILTER


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/gridtokenx``, else ``~/.local/share/gridtokenx``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gridtokenx"


class IngestPolicy(BaseSettings):
    """Validation rules for readings (seed 004 numbers as defaults)."""

    model_config = SettingsConfigDict(env_prefix="GTX_INGEST_", extra="forbid")

    max_age_s: int = Field(7 * 24 * 3600, gt=0, description="oldest accepted reading age")
    clock_skew_s: int = Field(120, ge=0, description="tolerated future timestamp")
    duplicate_window_s: int = Field(
        15 * 60, ge=0, description="same counters within this window = replayed measurement"
    )
    max_energy_wh: int = Field(100_000, gt=0, description="max import+export delta per reading")
    max_power_w: int = Field(
        100_000, gt=0,
        description="rated power of a meter without its own: import+export may not exceed it over the elapsed time",
    )
    # Seed 004 says 1 reading per 5 min (300 s); the firmware's default interval is 60 s,
    # so the default admits one reading per minute. Set 300 to enforce the seed's limit.
    rate_limit_interval_s: int = Field(
        60, ge=0, description="minimum device-time spacing between readings of one meter"
    )
    rate_limit_jitter_s: int = Field(
        2, ge=0, description="tolerance for timer jitter on the rate limit spacing"
    )
    max_envelope_bytes: int = Field(MAX_WIRE_BYTES, gt=0, description="larger envelopes are rejected (v1 wire max)")
    max_batch_readings: int = Field(5000, gt=0, description="HTTP batch endpoint limit")
    verify_threads: int = Field(2, gt=0, description="threads for Ed25519 verification")
    max_rejections_per_kind: int = Field(
        100, gt=0, description="newest rejection rows kept per (transport, meter id, reason)")
    max_unregistered_rejections: int = Field(
        10_000, gt=0, description="newest rejection rows kept for meter ids no meter is registered under")


class MqttSettings(BaseSettings):
    """Upstream broker the aggregator consumes readings from."""

    model_config = SettingsConfigDict(env_prefix="GTX_MQTT_", extra="forbid")

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    client_id: str = "gtx-aggregator"
    # Optional MQTT 5 shared-subscription group ("$share/<group>/..."). Off by default:
    # a shared subscription spreads one meter's readings over replicas with no per-meter
    # affinity, so a later reading can commit first; the earlier one is then accepted as
    # a late reading and counted once (docs/mint-rule.md).
    share_group: str | None = None
    topic: str = READINGS_TOPIC_FILTER
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    # The consumer acks a batch only after its commit, so the broker's send window must
    # hold about two batches for verify and commit to stay busy (see bench/aggregator.py).
    receive_maximum: int = Field(65535, gt=0, le=65535)
    batch_max_readings: int = Field(5000, gt=0)
    batch_max_wait_ms: int = Field(20, ge=0)
    username: str | None = None
    password: SecretStr | None = None
    # TLS to the broker: on when ``tls`` is true or a CA file is given. The broker's
    # certificate is verified (against ``tls_ca_file``, else the system's CAs) and its
    # host name checked unless ``tls_insecure`` (tests against a self-signed broker only).
    tls: bool = False
    tls_ca_file: Path | None = Field(None, description="PEM CA bundle that signed the broker's certificate")
    tls_cert_file: Path | None = Field(None, description="client certificate (PEM), with tls_key_file")
    tls_key_file: Path | None = Field(None, description="client private key (PEM), with tls_cert_file")
    tls_insecure: bool = Field(False, description="skip the broker host-name check (never in production)")

    @model_validator(mode="after")
    def _tls_files(self) -> MqttSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("GTX_MQTT_TLS_CERT_FILE and GTX_MQTT_TLS_KEY_FILE go together")
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"GTX_MQTT_{name.upper()}: no such file: {path}")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls or self.tls_ca_file is not None or self.tls_cert_file is not None


class ChainSettings(BaseSettings):
    """Where the programs run and who signs for the aggregator.

    ``litesvm`` (default): the built programs executed in-process by LiteSVM, initialised
    at start-up with a fresh authority and oracle. Its state lives in memory and ends with
    the process: an embedded default for demos and tests, not a ledger of record.
    ``rpc``: any Solana JSON-RPC endpoint (a cluster, or ``python -m tools.localnet``);
    the registry must already be initialised with ``oracle_keypair`` as its oracle.
    ``none``: no chain; readings are stored but never minted.
    """

    model_config = SettingsConfigDict(env_prefix="GTX_CHAIN_", extra="forbid")

    backend: Literal["litesvm", "rpc", "embedded", "none"] = "litesvm"
    node_port: int = Field(8899, gt=0, lt=65536, description="embedded: the port of the durable chain node")
    rpc_url: str | None = None
    oracle_keypair: Path | None = Field(
        None, description="Solana JSON keypair file of the registry's oracle authority (required for rpc)"
    )

    matcher_keypair: Path | None = Field(
        None, description="Solana JSON keypair file of the trading markets' matcher (rpc; LiteSVM makes its own)"
    )
    issuer_keypair: Path | None = Field(
        None, description="Solana JSON keypair file of the certificates program's issuer (rpc; LiteSVM makes its own)"
    )
    markets: list[str] = Field(
        default_factory=list, description="trading market addresses to serve and match (rpc; JSON list)"
    )

    @model_validator(mode="after")
    def _rpc_needs_url_and_key(self) -> ChainSettings:
        if self.backend == "embedded":
            return self  # `python -m aggregator serve` resolves it to rpc against the node it starts
        if self.backend == "rpc" and (self.rpc_url is None or self.oracle_keypair is None):
            raise ValueError("GTX_CHAIN_BACKEND=rpc needs GTX_CHAIN_RPC_URL and GTX_CHAIN_ORACLE_KEYPAIR")
        return self


class ThbSettings(BaseSettings):
    """The THB rail (environment ``GTX_THB_*``): baht in a reserve bank account back the THB
    token 1:1; bank statements mint, payout files follow burns (aggregator.payments).

    The mint authority's key is never defaulted on a real cluster: with
    ``GTX_CHAIN_BACKEND=rpc`` the rail runs only with ``mint_authority_keypair`` and ``mint``
    set (one without the other, or ``enabled=true`` without both, stops the start). On the
    in-process chain a missing key is generated under ``data_dir`` (mode 0600), and the log
    says so.
    """

    model_config = SettingsConfigDict(env_prefix="GTX_THB_", extra="forbid")

    enabled: bool | None = Field(
        None, description="run the rail; unset: on the in-process chain, and on a cluster when its mint and "
        "authority key are configured")
    mint_authority_keypair: Path | None = Field(
        None, description="Solana JSON keypair file (mode 0600) of the THB mint authority")
    mint: str | None = Field(None, description="THB mint address (rpc; the in-process chain creates one)")
    data_dir: Path = Field(Path("var/thb"), description="where a development chain's generated key is kept")
    max_deposit_satang: int = Field(
        10_000_000, gt=0, description="a single deposit above this is held, not minted (default 100,000 THB)")
    daily_mint_cap_satang: int = Field(
        100_000_000, gt=0, description="THB minted per UTC day at most; deposits beyond it are held")
    reserve_account: str | None = Field(
        None, description="the reserve bank account (IBAN or account number); statements of others are refused")
    reserve_account_name: str = "GridTokenX THB reserve"
    reserve_bank_bic: str | None = None
    operator_token: str | None = Field(
        None, description="bearer secret of the operator's payment endpoints (unset: they answer 403)")
    sweep_s: float = Field(2.0, gt=0, description="how often the rail looks for imported deposits to mint")
    open_market: bool = Field(False, description="in-process chain: open a THB-paid market on the trading desk")


class Settings(BaseSettings):
    """Aggregator service settings.

    ``database_url`` unset means: start an embedded PostgreSQL under ``embedded_pg_dir``.
    """

    model_config = SettingsConfigDict(env_prefix="GTX_", extra="forbid")

    database_url: str | None = None
    #: Per-user home of the embedded PostgreSQL data, the chain node's data and the keys
    #: (``$XDG_DATA_HOME/gridtokenx``, by default ``~/.local/share/gridtokenx``).
    data_dir: Path = Field(default_factory=lambda: default_data_dir())
    embedded_pg_dir: str | None = Field(None, description="default: <data_dir>/postgres")
    db_pool_min: int = Field(2, gt=0)
    db_pool_max: int = Field(8, gt=0)
    run_migrations: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    challenge_ttl_s: int = Field(300, gt=0)
    max_stored_challenges: int = Field(
        100_000, gt=0, description="challenges kept at most; beyond, 503 challenge_store_full")
    mint_batch_max_readings: int = Field(50, gt=0)
    mint_max_attempts: int = Field(3, gt=0)
    mint_backoff_base_s: float = Field(1.0, gt=0)
    mint_enabled: bool = Field(True, description="run the minter (needs a chain backend)")
    leader_election: bool = Field(
        False, description="replicas: minter, matcher and indexer each run in the one process holding its "
        "PostgreSQL advisory lock (aggregator/leader.py)")
    mint_sweep_s: float = Field(60.0, gt=0, description="periodic sweep; new readings wake the minter at once")
    mint_concurrency: int = Field(8, gt=0, description="mint transactions in flight at once")
    mint_owner_batches_per_hour: int = Field(
        600, ge=0, description="paid mint transactions per owner per hour (the oracle pays their fees; "
        "readings beyond wait for the next batch); 0: no budget")
    indexer_enabled: bool = Field(True, description="index chain events into PostgreSQL (needs a chain backend)")
    indexer_poll_s: float = Field(2.0, gt=0, description="how often the indexer asks the chain for new transactions")
    matcher_enabled: bool = Field(True, description="match orders of markets whose matcher key this service holds")
    matcher_sweep_s: float = Field(
        30.0, gt=0, description="periodic sweep; indexed new orders wake the matcher at once")
    certificate_validate_on_issue: bool = Field(
        True, description="the issuer co-signs validation into each issuance it prepares (else they stay PENDING)"
    )
    # Read tokens (aggregator/users/tokens.py; docs/access-matrix.md). Unset secret: one is
    # generated and kept in the database. Wallet lists are comma-separated base58 keys.
    auth_token_secret: SecretStr | None = Field(None, min_length=32, description="HMAC key of read tokens")
    auth_token_ttl_s: int = Field(3600, gt=0, le=7 * 24 * 3600, description="lifetime of a read token")
    operator_wallets: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), description="grid operator wallets (read every meter's and wallet's data)")
    admin_wallets: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), description="admin wallets (read every meter's and wallet's data)")
    chain: ChainSettings = Field(default_factory=ChainSettings)
    ingest: IngestPolicy = Field(default_factory=IngestPolicy)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    thb: ThbSettings = Field(default_factory=ThbSettings)

    @field_validator("operator_wallets", "admin_wallets", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(w.strip() for w in value.split(",") if w.strip())
        return value

    @model_validator(mode="after")
    def _pg_dir_under_data_dir(self) -> Settings:
        if self.embedded_pg_dir is None:
            self.embedded_pg_dir = str(self.data_dir / "postgres")
        return self

    @property
    def pg_dir(self) -> str:
        """Where the embedded PostgreSQL keeps its data (``embedded_pg_dir``, resolved)."""
        return self.embedded_pg_dir or str(self.data_dir / "postgres")

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("db_pool_min must not exceed db_pool_max")
        return self
