"""Operator commands: ``python -m aggregator admin status|requeue|suspend|reactivate|
revoke-cert|market|audit``.

Each command runs against the service's database (``GTX_DATABASE_URL``, or the embedded
PostgreSQL under the data directory: the running aggregator's server through its socket,
else started for the command) and, where it must, the chain (the embedded node or
``GTX_CHAIN_RPC_URL``, keys from ``<data dir>/keys``). Every command, whatever its outcome,
is recorded in ``admin_audit`` (who, what, arguments, outcome, detail) and printed as JSON.
A refusal (unknown meter, a batch not ``failed``) exits with status 1 and a reason code.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from aggregator.config import Settings
from aggregator.errors import Conflict, RequestError


class Refused(Conflict):
    """An operator command refused (unknown meter or batch, wrong state, chain refusal)."""


def add_parser(sub: Any) -> None:
    admin = sub.add_parser("admin", help="operator commands, each recorded in the admin_audit table")
    cmds = admin.add_subparsers(dest="admin_command", required=True)
    cmds.add_parser("status", help="meters, readings, mint batches and chain state at a glance")
    requeue = cmds.add_parser("requeue", help="give failed mint batches fresh attempts")
    group = requeue.add_mutually_exclusive_group(required=True)
    group.add_argument("--batch", type=int, help="one batch id")
    group.add_argument("--all-failed", action="store_true", help="every failed batch")
    for name, verb in (("suspend", "stop accepting"), ("reactivate", "accept again")):
        p = cmds.add_parser(name, help=f"{verb} a meter's readings")
        p.add_argument("meter_id")
        p.add_argument("--reason", default="")
    revoke = cmds.add_parser("revoke-cert", help="revoke a certificate on chain (signed by the deployer, the "
                             "certificates program's authority)")
    revoke.add_argument("certificate", help="the certificate account address")
    revoke.add_argument("--reason-code", type=int, default=1)
    market = cmds.add_parser("market", help="a served market's on-chain parameters")
    market.add_argument("address", nargs="?", help="default: every market in <data dir>/keys/chain.json")
    audit = cmds.add_parser("audit", help="the latest audit rows")
    audit.add_argument("--limit", type=int, default=20)


@contextlib.asynccontextmanager
async def _connect(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    from aggregator.db.embedded import EmbeddedPostgres, database_async

    if settings.database_url is None:
        running = EmbeddedPostgres(settings.pg_dir)
        try:  # the running aggregator's server, through its socket
            conn = await asyncpg.connect(running.dsn())
        except (OSError, asyncpg.PostgresError):
            conn = None
        if conn is not None:
            try:
                yield conn
            finally:
                await conn.close()
            return
    async with database_async(settings.database_url, settings.pg_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            yield conn
        finally:
            await conn.close()


async def _status(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    meters = {r["k"]: r["n"] for r in await conn.fetch(
        "SELECT status || '/' || chain_state AS k, count(*) AS n FROM meters GROUP BY 1")}
    batches = {r["state"]: r["n"] for r in await conn.fetch(
        "SELECT state, count(*) AS n FROM mint_batches GROUP BY state")}
    readings = await conn.fetchrow("SELECT count(*) AS total, count(*) FILTER (WHERE NOT minted) AS unminted "
                                   "FROM readings")
    users = {r["chain_state"]: r["n"] for r in await conn.fetch(
        "SELECT chain_state, count(*) AS n FROM users GROUP BY chain_state")}
    return {"users": users, "meters": meters, "mint_batches": batches, "readings": dict(readings),
            "chain": await _chain_status(settings)}


async def _chain_status(settings: Settings) -> dict[str, Any]:
    import httpx

    url = _chain_url(settings)
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            slot = (await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})).json()
        return {"url": url, "slot": slot.get("result")}
    except (httpx.HTTPError, ValueError) as exc:
        return {"url": url, "error": f"{type(exc).__name__}: {exc}"}


def _chain_url(settings: Settings) -> str:
    return settings.chain.rpc_url or f"http://127.0.0.1:{settings.chain.node_port}"


async def _requeue(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    if args.batch is not None:
        state = await conn.fetchval("SELECT state FROM mint_batches WHERE id = $1", args.batch)
        if state is None:
            raise Refused("unknown_batch", f"no mint batch {args.batch}")
        if state != "failed":
            raise Refused("bad_batch_state", f"batch {args.batch} is {state}, not failed")
    ids = await conn.fetch(
        """UPDATE mint_batches SET state = 'claimed', attempts = 0, last_error = NULL, next_attempt_at = now(),
                  updated_at = now()
           WHERE state = 'failed' AND ($1::bigint IS NULL OR id = $1) RETURNING id""", args.batch)
    return {"requeued": sorted(r["id"] for r in ids)}


async def _set_status(conn: asyncpg.Connection, meter_id: str, status: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT status FROM meters WHERE meter_id = $1", meter_id)
    if row is None:
        raise Refused("unknown_meter", f"no meter {meter_id}")
    if row["status"] == "revoked":
        raise Refused("meter_revoked", f"meter {meter_id} is revoked (deactivated on chain); it stays revoked")
    await conn.execute("UPDATE meters SET status = $2 WHERE meter_id = $1", meter_id, status)
    return {"meter_id": meter_id, "was": row["status"], "now": status}


async def _suspend(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    return await _set_status(conn, args.meter_id, "suspended")


async def _reactivate(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    return await _set_status(conn, args.meter_id, "active")


async def _revoke_cert(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from solders.pubkey import Pubkey

    from aggregator.chain.backend import RpcBackend
    from aggregator.chain.certificates import Certificates
    from aggregator.chain.connect import deployed_programs, load_keypair
    from aggregator.chain.registry import Registry

    try:
        certificate = Pubkey.from_string(args.certificate)
    except ValueError as exc:
        raise Refused("bad_address", f"{args.certificate!r} is not a base58 address") from exc
    authority = load_keypair(settings.data_dir / "keys" / "deployer.json")
    certificates = Certificates(registry_program_id=Registry().program_id)
    backend = RpcBackend(_chain_url(settings), deployed_programs())
    try:
        result = await backend.send([certificates.revoke(authority.pubkey(), certificate, args.reason_code)],
                                    [authority], check=False)
    finally:
        await backend.close()
    if not result.ok:
        raise Refused("chain_refused", f"revoke failed on chain: {result.error_name or result.error}")
    return {"certificate": str(certificate), "signature": result.signature}


async def _market(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from solders.pubkey import Pubkey

    from aggregator.chain.backend import RpcBackend
    from aggregator.chain.connect import deployed_programs
    from aggregator.chain.trading import Trading

    manifest = settings.data_dir / "keys" / "chain.json"
    addresses = [args.address] if args.address else (
        json.loads(manifest.read_text()).get("markets", []) if manifest.exists() else [])
    trading = Trading()
    backend = RpcBackend(_chain_url(settings), deployed_programs())
    found = []
    try:
        for address in addresses:
            account = await backend.account(Pubkey.from_string(address))
            if account is None or trading.program.account_name(bytes(account.data)) != "Market":
                raise Refused("unknown_market", f"{address} is not a trading market on this chain")
            m = trading.decode(bytes(account.data))
            found.append({"address": address, "fee_bps": m.fee_bps, "lot_size_wh": m.lot_size_wh,
                          "tick_size": m.tick_size, "auction_slot_secs": m.auction_slot_secs,
                          "matcher": str(m.matcher), "payment_mint": str(m.payment_mint)})
    finally:
        await backend.close()
    return {"markets": found}


async def _audit(conn: asyncpg.Connection, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    rows = await conn.fetch("SELECT id, at, actor, command, args::text, outcome, detail::text FROM admin_audit "
                            "ORDER BY id DESC LIMIT $1", args.limit)
    return {"audit": [{**dict(r), "at": r["at"].isoformat(), "args": json.loads(r["args"]),
                       "detail": json.loads(r["detail"])} for r in rows]}


COMMANDS = {"status": _status, "requeue": _requeue, "suspend": _suspend, "reactivate": _reactivate,
            "revoke-cert": _revoke_cert, "market": _market, "audit": _audit}


async def run(settings: Settings, args: argparse.Namespace) -> int:
    command = args.admin_command
    arguments = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                 if k not in ("command", "admin_command")}
    async with _connect(settings) as conn:
        try:
            detail = await COMMANDS[command](conn, settings, args)
            outcome, code = "ok", 0
        except (Refused, RequestError) as exc:
            detail = {"reason": getattr(exc, "reason", "refused"), "message": getattr(exc, "message", str(exc))}
            outcome, code = "refused", 1
        except Exception as exc:  # noqa: BLE001 - recorded, then reported
            detail = {"reason": "failed", "message": f"{type(exc).__name__}: {exc}"}
            outcome, code = "failed", 2
        await conn.execute("INSERT INTO admin_audit (actor, command, args, outcome, detail) "
                           "VALUES ($1, $2, $3::jsonb, $4, $5::jsonb)",
                           getpass.getuser(), command, json.dumps(arguments), outcome, json.dumps(detail, default=str))
    print(json.dumps({"command": command, "outcome": outcome, **detail}, default=str))
    if code:
        print(f"admin {command}: {detail['message']}", file=sys.stderr)
    return code
