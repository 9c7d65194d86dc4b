"""``python -m aggregator payments import FILE...`` and ``payments payout-file [--out PATH]``.

Both work on the database alone (``GTX_DATABASE_URL``, or the embedded server): an import
books the file's entries, and the running service's rail mints what it matched within
``GTX_THB_SWEEP_S``. Each prints one JSON object per file; a refused file prints its
reason code and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import asyncpg

from aggregator.config import Settings
from aggregator.errors import RequestError
from aggregator.payments import ledger


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    payments = sub.add_parser("payments", help="the THB rail: import bank statements, produce payout files")
    cmd = payments.add_subparsers(dest="payments_command", required=True)
    imp = cmd.add_parser("import", help="import ISO 20022 camt.053/camt.054 files of the reserve account")
    imp.add_argument("files", nargs="+", type=Path)
    out = cmd.add_parser("payout-file", help="write a pain.001 of every burned payout")
    out.add_argument("--out", type=Path, help="write the XML here (default: standard output)")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from aggregator.db.embedded import database_async
    from aggregator.db.migrate import migrate

    status = 0
    async with database_async(settings.database_url, settings.pg_dir) as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            if settings.run_migrations:
                async with pool.acquire() as conn:
                    await migrate(conn)
            if args.payments_command == "import":
                for path in args.files:
                    try:
                        result = await ledger.import_file(pool, path.read_bytes(), settings.thb,
                                                          source=f"cli:{path.name}")
                        print(json.dumps({"file": str(path), **result.as_dict()}))
                    except RequestError as exc:
                        print(json.dumps({"file": str(path), "error": exc.reason, "message": exc.message}))
                        status = 1
                    except OSError as exc:
                        print(json.dumps({"file": str(path), "error": "unreadable", "message": str(exc)}))
                        status = 1
            else:
                try:
                    row = await ledger.produce_file(pool, settings.thb)
                except RequestError as exc:
                    print(json.dumps({"error": exc.reason, "message": exc.message}), file=sys.stderr)
                    return 1
                if row is None:
                    print(json.dumps({"payouts": 0}), file=sys.stderr)
                elif args.out is not None:
                    args.out.write_text(row["xml"])
                    print(json.dumps({"file": str(args.out), "message_id": row["message_id"],
                                      "payouts": row["payouts"], "total_satang": row["total_satang"]}))
                else:
                    print(row["xml"])
        finally:
            await pool.close()
    return status


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args, Settings()))
