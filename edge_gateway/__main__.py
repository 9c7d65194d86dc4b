"""Edge gateway: relay signed meter readings from the site broker upstream.

Subscribes to gtx/v1/meters/+/readings on the local broker (MQTT 5 persistent session,
QoS 1), checks each envelope's shape and topic, stores it verbatim in a durable SQLite
outbox and only then acknowledges it; relays the outbox in order to the upstream
broker with QoS 1 and deletes each reading only after its PUBACK.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from edge_gateway.config import ENV_PREFIX, GatewayConfig, load_config, load_meter_keys
from edge_gateway.errors import ConfigError, GatewayError
from edge_gateway.meters.signing_key import load_or_create_signing_key, public_key_hex
from edge_gateway.ops.logs import configure_logging, fields
from edge_gateway.ops.metrics import Telemetry
from edge_gateway.relay import Gateway
from edge_gateway.storage.outbox import Outbox

log = logging.getLogger("edge_gateway")

_EPILOG = f"""\
configuration (environment {ENV_PREFIX}* overrides the --config TOML file):
  gateway_id                 required; this gateway's id       {ENV_PREFIX}GATEWAY_ID
  outbox_path                required; SQLite outbox file      {ENV_PREFIX}OUTBOX_PATH
  outbox_max_messages        outbox bound (200000)             {ENV_PREFIX}OUTBOX_MAX_MESSAGES
  batch_size                 readings per commit/window (100)  {ENV_PREFIX}BATCH_SIZE
  meter_keys_file            JSON {{meter_id: hex key}}; verify signatures here too
  http_host, http_port       /metrics and /healthz (127.0.0.1:9480)
  log_level                  DEBUG, INFO, WARNING, ERROR
  [local]    host (127.0.0.1), port (1883), username, password, client_id,
             session_expiry_s, receive_maximum, tls_ca, tls_cert, tls_key
  [upstream] host (required), port, username, password, client_id, tls_ca,
             tls_cert, tls_key, backoff_min_s, backoff_max_s
  signing_key_file           the gateway's Ed25519 seed (created, mode 0600, if missing)
  [[direct_meters]]          meters polled by the gateway itself: meter_id, model,
             interval_s, timeout_s, slave_id, transport = "tcp" (host, port) or
             "rtu" (device, baud, parity, stopbits)
  nested keys in the environment use "__": {ENV_PREFIX}UPSTREAM__HOST=broker.example

signatures: without meter_keys_file only the envelope shape and topic are checked
here; the aggregator verifies every signature against the registered keys.
Readings of direct meters are signed with the gateway's key: register the key that
--print-public-key prints for each of their meter ids.

outbox full: local acknowledgements are held, so the local broker keeps the backlog
in the gateway's session; /healthz reports it. Nothing is dropped.

exit status: 0 stopped by SIGTERM/SIGINT, 1 runtime failure (e.g. the outbox disk),
2 invalid configuration. Docs: edge_gateway/README.md.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edge_gateway", description=__doc__,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, metavar="TOML",
                   help="settings file (TOML); environment variables take precedence")
    p.add_argument("--check-config", action="store_true",
                   help="validate the settings, print them (secrets masked) as JSON and exit")
    p.add_argument("--print-public-key", action="store_true",
                   help="print the gateway's Ed25519 public key (hex) for registration and exit; "
                        "creates signing_key_file if it does not exist yet")
    return p


async def _serve(config: GatewayConfig) -> None:
    keys = load_meter_keys(config.meter_keys_file) if config.meter_keys_file is not None else None
    seed = None
    if config.direct_meters and config.signing_key_file is not None:  # the validator pairs them
        seed = load_or_create_signing_key(config.signing_key_file)
    with Outbox(config.outbox_path, config.outbox_max_messages, config.rejects_keep) as outbox:
        telemetry = Telemetry(lambda: outbox.depth, outbox.max_messages)
        gateway = Gateway(config, outbox, telemetry, keys, signing_seed=seed)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await gateway.run(stop)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edge_gateway: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(json.dumps(config.redacted(), indent=2, default=str))
        return 0
    if args.print_public_key:
        if config.signing_key_file is None:
            print("edge_gateway: --print-public-key needs signing_key_file "
                  f"(env {ENV_PREFIX}SIGNING_KEY_FILE)", file=sys.stderr)
            return 2
        try:
            print(public_key_hex(load_or_create_signing_key(config.signing_key_file)))
        except ConfigError as exc:
            print(f"edge_gateway: {exc}", file=sys.stderr)
            return 2
        return 0
    configure_logging(config.log_level)
    try:
        asyncio.run(_serve(config))
    except GatewayError as exc:
        log.error("gateway failed", extra=fields(error=str(exc)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
