"""What the trading program's events do to ``orders`` and ``trades`` (the chain wins).

Called from :func:`aggregator.indexer.repository.apply_effects` for newly stored events
only, inside the indexer's transaction, so each event applies exactly once.

* ``OrderPlaced``: an open order row at the address the event names (the order PDA of
  market and id, derived with the bump the client passed).
* ``FillSettled``: a trade row, and both orders' filled sizes set from the remainders the
  chain reports. Sizes only grow (``GREATEST``), so events applied in any order agree.
* ``OrderCancelled`` / ``OrderExpired``: the order is closed with that status.
* ``OrderClosed``: a filled order's account was closed (status stays ``filled``).
"""

from __future__ import annotations

from typing import Any

import asyncpg

PLACED, FILLED, CANCELLED, EXPIRED, CLOSED = (
    "OrderPlaced", "FillSettled", "OrderCancelled", "OrderExpired", "OrderClosed")
TRADING_EVENTS = frozenset({PLACED, FILLED, CANCELLED, EXPIRED, CLOSED})
SIDE_NAMES = {0: "buy", 1: "sell"}


async def apply(conn: asyncpg.Connection, event: asyncpg.Record, data: dict[str, Any]) -> None:
    name = event["name"]
    if name == PLACED:
        await conn.execute(
            """INSERT INTO orders (order_address, user_id, side, price_per_kwh_micro, energy_wh, status, expires_at,
                                   tx_signature, created_at, market_address, chain_order_id, owner_wallet)
               VALUES ($1, (SELECT id FROM users WHERE wallet = $2), $3, $4, $5, 'open',
                       CASE WHEN $6::bigint = 0 THEN NULL ELSE to_timestamp($6::bigint) END,
                       $7, to_timestamp($8::bigint), $9, $10, $2)
               ON CONFLICT (market_address, chain_order_id) DO NOTHING""",
            data["order"], data["owner"],
            SIDE_NAMES[data["side"]], data["price_per_kwh"], data["size_wh"], data["expires_at"],
            event["signature"], data["placed_at"], data["market"], data["order_id"])
    elif name == FILLED:
        sides = ((data["bid_id"], data["bid_remaining_wh"]), (data["ask_id"], data["ask_remaining_wh"]))
        for order_id, remaining in sides:
            await conn.execute(
                """UPDATE orders SET filled_wh = GREATEST(filled_wh, energy_wh - $3),
                       status = CASE WHEN status IN ('cancelled', 'expired') THEN status
                                     WHEN GREATEST(filled_wh, energy_wh - $3) = energy_wh THEN 'filled'
                                     ELSE 'partially_filled' END,
                       updated_at = now()
                   WHERE market_address = $1 AND chain_order_id = $2""",
                data["market"], order_id, remaining)
        await conn.execute(
            """INSERT INTO trades (buy_order_id, sell_order_id, buyer_id, seller_id, energy_wh, price_per_kwh_micro,
                                   tx_signature, fill_index, market_address, bid_order_id, ask_order_id,
                                   buyer_wallet, seller_wallet, value_micro, fee_micro, buyer_improvement_micro, slot)
               VALUES ((SELECT id FROM orders WHERE market_address = $1 AND chain_order_id = $2),
                       (SELECT id FROM orders WHERE market_address = $1 AND chain_order_id = $3),
                       (SELECT id FROM users WHERE wallet = $4), (SELECT id FROM users WHERE wallet = $5),
                       $6, $7, $8, $9, $1, $2, $3, $4, $5, $10, $11, $12, $13)
               ON CONFLICT (tx_signature, fill_index) DO NOTHING""",
            data["market"], data["bid_id"], data["ask_id"], data["buyer"], data["seller"], data["energy_wh"],
            data["price_per_kwh"], event["signature"], event["idx"], data["value"], data["fee"],
            data["buyer_improvement"], event["slot"])
    elif name in (CANCELLED, EXPIRED, CLOSED):
        await conn.execute(
            """UPDATE orders SET status = CASE WHEN $3 = 'closed' THEN status ELSE $3 END,
                   closed_at = now(), updated_at = now()
               WHERE market_address = $1 AND chain_order_id = $2""",
            data["market"], data["order_id"], {CANCELLED: "cancelled", EXPIRED: "expired", CLOSED: "closed"}[name])
