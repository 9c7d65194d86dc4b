"""Command line: ``python -m aggregator serve|migrate|payments``.

Settings come from ``GTX_*`` environment variables (see ``aggregator.config``); without
``GTX_DATABASE_URL`` an embedded PostgreSQL is started under ``GTX_EMBEDDED_PG_DIR``.
The chain is ``GTX_CHAIN_BACKEND``: ``litesvm`` (default, in-process, state ends with the
process), ``rpc`` (``GTX_CHAIN_RPC_URL`` + ``GTX_CHAIN_ORACLE_KEYPAIR``) or ``none``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

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
    return parser


async def _migrate(settings: Settings) -> list[int]:
    import asyncpg

    from aggregator.db.embedded import database_async
    from aggregator.db.migrate import migrate

    async with database_async(settings.database_url, settings.embedded_pg_dir) as dsn:
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
    import os

    import uvicorn

    from aggregator.db.embedded import database

    # Start the embedded server (if no URL is set) here, once, so every worker shares it.
    with database(settings.database_url, settings.embedded_pg_dir) as dsn:
        os.environ["GTX_DATABASE_URL"] = dsn
        if args.workers > 1 and settings.mqtt.enabled:
            print("refusing --workers > 1 with MQTT enabled: one consumer keeps per-meter order", file=sys.stderr)
            return 2
        if args.workers > 1 and settings.chain.backend != "none" and settings.mint_enabled:
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
