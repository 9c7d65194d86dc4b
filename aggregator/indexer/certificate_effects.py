"""What the certificates program's events do to ``certificates`` (the chain wins).

Called from :func:`aggregator.indexer.repository.apply_effects` for newly stored events
only, inside the indexer's transaction, so each event applies exactly once.

* ``CertificateIssued``: a pending row with everything the chain recorded (interval,
  Wh, location, source, expiry, the meter's certified total after it).
* ``CertificateValidated``: pending -> valid.
* ``CertificateTransferred``: the holder changes.
* ``CertificateRetired`` / ``CertificateRevoked`` / ``CertificateExpired``: the terminal
  status with the chain's time (and the revocation's reason code).

A state change never moves a row out of a terminal status: the program refuses such a
change, so a row that says otherwise would be the database's mistake, not the chain's.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from aggregator.chain.certificates import Source
from aggregator.chain.programs import from_label

ISSUED, VALIDATED, TRANSFERRED = "CertificateIssued", "CertificateValidated", "CertificateTransferred"
RETIRED, REVOKED, EXPIRED = "CertificateRetired", "CertificateRevoked", "CertificateExpired"
CERTIFICATE_EVENTS = frozenset({ISSUED, VALIDATED, TRANSFERRED, RETIRED, REVOKED, EXPIRED})
_TERMINAL = {RETIRED: ("retired", "retired_at"), REVOKED: ("revoked", "revoked_at"), EXPIRED: ("expired", "expired_at")}


async def apply(conn: asyncpg.Connection, event: asyncpg.Record, data: dict[str, Any]) -> None:
    name, signature = event["name"], event["signature"]
    if name == ISSUED:
        await conn.execute(
            """INSERT INTO certificates (certificate_address, meter_id, sequence, owner_wallet, owner_id,
                   issued_to_wallet, energy_wh, period_start, period_end, source, location, expires_at,
                   meter_certified_wh, issue_signature, last_signature)
               VALUES ($1, $2, $3, $4, (SELECT id FROM users WHERE wallet = $4), $4, $5,
                       to_timestamp($6::bigint), to_timestamp($7::bigint), $8, $9, to_timestamp($10::bigint),
                       $11, $12, $12)
               ON CONFLICT (certificate_address) DO NOTHING""",
            data["certificate"], data["meter_id"], data["sequence"], data["owner"], data["energy_wh"],
            data["start_at"], data["end_at"], Source(data["source"]).name.lower(), from_label(data["location"]),
            data["expires_at"], data["meter_certified_wh"], signature)
    elif name == VALIDATED:
        await conn.execute(
            """UPDATE certificates SET status = 'valid', validated_at = to_timestamp($2::bigint),
                   last_signature = $3, updated_at = now()
               WHERE certificate_address = $1 AND status = 'pending'""",
            data["certificate"], data["validated_at"], signature)
    elif name == TRANSFERRED:
        await conn.execute(
            """UPDATE certificates SET owner_wallet = $2, owner_id = (SELECT id FROM users WHERE wallet = $2),
                   last_signature = $3, updated_at = now()
               WHERE certificate_address = $1""",
            data["certificate"], data["to"], signature)
    elif name in _TERMINAL:
        status, at = _TERMINAL[name]
        await conn.execute(
            """UPDATE certificates SET status = $2, closed_at = to_timestamp($3::bigint), revoke_reason = $4,
                   last_signature = $5, updated_at = now()
               WHERE certificate_address = $1 AND status IN ('pending', 'valid')""",
            data["certificate"], status, data[at], data.get("reason") if name == REVOKED else None, signature)
