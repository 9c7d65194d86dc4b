"""Command line: ``python -m aggregator serve|migrate|chain init|admin|payments``.

Settings come from ``GTX_*`` environment variables (see ``aggregator.config``). Data and
keys live under ``GTX_DATA_DIR`` (default ``~/.local/share/gridtokenx``): ``postgres/``
(the embedded PostgreSQL, unless ``GTX_DATABASE_URL`` is set), ``chain/`` (the durable
chain node) and ``keys/``; one instance per data directory (``aggregator.lock``).

``serve`` runs the chain ``GTX_CHAIN_BACKEND``, by default ``embedded``: the durable
LiteSVM node over ``<data dir>/chain`` on ``GTX_CHAIN_NODE_PORT`` (started, or connected
to), bootstrapped by ``chain init`` and used over JSON-RPC like a cluster. Others:
``rpc`` (``GTX_CHAIN_RPC_URL`` + ``GTX_CHAIN_ORACLE_KEYPAIR``), ``litesvm`` (in-process,
state ends with the process) or ``none``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from aggregator.config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aggregator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the HTTP API, the minter (GTX_CHAIN_BACKEND, default LiteSVM in-process) "
        "and the MQTT consumer (if GTX_MQTT_ENABLED)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers", type=int, default=1,
        help="HTTP worker processes (each verifies signatures on its own cores; the MQTT "
        "consumer, if enabled, runs in every worker, so keep 1 with MQTT)",
    )
    sub.add_parser("migrate", help="apply pending database migrations and exit")
    from aggregator.payments import cli as payments_cli

    payments_cli.add_parser(sub)
    chain = sub.add_parser("chain", help="chain bootstrap")
    chain_sub = chain.add_subparsers(dest="chain_command", required=True)
    init = chain_sub.add_parser(
        "init", help="deploy or verify the programs, initialise registry, energy token, certificates and "
        "markets, create the oracle/matcher/issuer keys and fund them on dev chains; idempotent")
    init.add_argument("--url", default=None,
                      help="a JSON-RPC endpoint (default: the embedded node over <data dir>/chain)")
    init.add_argument("--key-dir", type=Path, default=None, help="default: <data dir>/keys")
    init.add_argument("--payment-mint", default=None, help="the markets' payment token (default on dev chains: "
                      "a demo token created here)")
    init.add_argument("--no-markets", action="store_true", help="initialise no market")
    from aggregator.admin import add_parser as add_admin_parser

    add_admin_parser(sub)
    return parser


def _resolve_embedded_chain(settings: Settings, stack: contextlib.ExitStack) -> None:
    """Start (or connect to) the node, run ``chain init``, and point the rpc backend at it
    through the environment, so every worker process reads the same settings."""
    from aggregator.chain.bootstrap import KEY_NAMES, ensure_keypair, key_path
    from aggregator.chain.embedded import embedded_node

    key_dir = settings.data_dir / "keys"
    deployer = ensure_keypair(key_dir, "deployer")
    url = stack.enter_context(embedded_node(settings.data_dir / "chain", settings.chain.node_port,
                                            deployer.pubkey()))
    report = _chain_init(url, key_dir, payment_mint=None, markets=True)
    os.environ.update({
        "GTX_CHAIN_BACKEND": "rpc", "GTX_CHAIN_RPC_URL": url,
        "GTX_CHAIN_ORACLE_KEYPAIR": str(key_path(key_dir, "oracle")),
        "GTX_CHAIN_MATCHER_KEYPAIR": str(key_path(key_dir, "matcher")),
        "GTX_CHAIN_ISSUER_KEYPAIR": str(key_path(key_dir, "issuer")),
        "GTX_CHAIN_MARKETS": json.dumps(report.markets),
    })
    assert set(KEY_NAMES) <= set(report.keys)


def _chain_init(url: str, key_dir: Path, *, payment_mint: str | None, markets: bool):
    from solders.pubkey import Pubkey

    from aggregator.chain.bootstrap import chain_init

    report = asyncio.run(chain_init(url, key_dir, markets=None if markets else [],
                                    payment_mint=Pubkey.from_string(payment_mint) if payment_mint else None))
    for line in report.done:
        print(f"chain init: {line}", file=sys.stderr)
    return report


@contextlib.contextmanager
def _instance_lock(data_dir: Path):
    """One aggregator per data directory: a second one stops with a clear message."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "aggregator.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another aggregator is running on the data directory {data_dir} (lock {path} is "
                             f"held): set GTX_DATA_DIR to another directory for a second instance") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


async def _migrate(settings: Settings) -> list[int]:
    import asyncpg

    from aggregator.db.embedded import database_async
    from aggregator.db.migrate import migrate

    async with database_async(settings.database_url, settings.pg_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            return await migrate(conn)
        finally:
            await conn.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.command == "payments":
        from aggregator.payments import cli as payments_cli

        return payments_cli.main(args)
    if args.command == "migrate":
        applied = asyncio.run(_migrate(settings))
        print(f"applied migrations: {applied or 'none (up to date)'}")
        return 0
    if args.command == "admin":
        from aggregator.admin import run as run_admin

        return asyncio.run(run_admin(settings, args))
    if args.command == "chain":
        from aggregator.chain.errors import ChainSetupError

        key_dir = args.key_dir or settings.data_dir / "keys"
        try:
            if args.url is not None:
                _chain_init(args.url, key_dir, payment_mint=args.payment_mint, markets=not args.no_markets)
                return 0
            from aggregator.chain.bootstrap import ensure_keypair
            from aggregator.chain.embedded import embedded_node

            with embedded_node(settings.data_dir / "chain", settings.chain.node_port,
                               ensure_keypair(key_dir, "deployer").pubkey()) as url:
                _chain_init(url, key_dir, payment_mint=args.payment_mint, markets=not args.no_markets)
        except ChainSetupError as exc:
            print(f"chain init: {exc}", file=sys.stderr)
            return 2
        return 0
    import uvicorn

    from aggregator.chain.errors import ChainSetupError
    from aggregator.db.embedded import database

    if "GTX_CHAIN_BACKEND" not in os.environ:
        os.environ["GTX_CHAIN_BACKEND"] = "embedded"  # the operator's default; the library's stays litesvm
        settings = Settings()
    stack = contextlib.ExitStack()
    stack.enter_context(_instance_lock(settings.data_dir))
    try:
        if settings.chain.backend == "embedded":
            _resolve_embedded_chain(settings, stack)
    except ChainSetupError as exc:
        stack.close()
        print(f"chain: {exc}", file=sys.stderr)
        return 2
    # Start the embedded server (if no URL is set) here, once, so every worker shares it.
    with stack, database(settings.database_url, settings.pg_dir) as dsn:
        os.environ["GTX_DATABASE_URL"] = dsn
        if args.workers > 1 and settings.mqtt.enabled:
            print("refusing --workers > 1 with MQTT enabled: one consumer keeps per-meter order", file=sys.stderr)
            return 2
        if args.workers > 1 and settings.chain.backend != "none" and settings.mint_enabled \
                and not settings.leader_election:
            print("refusing --workers > 1 with minting enabled: one minter may run per database; "
                  "set GTX_MINT_ENABLED=false (or GTX_CHAIN_BACKEND=none) for HTTP-only workers", file=sys.stderr)
            return 2
        applied = asyncio.run(_migrate(Settings()))
        print(f"applied migrations: {applied or 'none (up to date)'}", file=sys.stderr)
        os.environ["GTX_RUN_MIGRATIONS"] = "false"
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; exit
        # normally instead so the embedded PostgreSQL above is stopped, not orphaned.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        uvicorn.run(
            "aggregator.app:create_app", factory=True, host=args.host, port=args.port,
            workers=args.workers, log_level=settings.log_level.lower(),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
