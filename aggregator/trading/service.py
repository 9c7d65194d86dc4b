"""The relay of users' own signed transactions (trading and certificates), and markets as
the chain has them.

Relay checks, in order, each with its reason code (the service signs nothing and pays
nothing; the user's wallet is the fee payer):

| reason | HTTP | refused when |
|---|---|---|
| `malformed_transaction` | 422 | not base64 of a legacy (wire-format) transaction |
| `transaction_too_large` | 413 | over 1,232 bytes, the most a cluster accepts |
| `no_instructions` | 422 | nothing to do |
| `program_not_allowed` | 422 | an instruction of a program not in :func:`relay_allowlist` (compute-budget excepted) |
| `instruction_not_allowed` | 422 | one users do not sign (`initialize_market`, `revoke`, ...; `settle_fills`
|   |   | unless this service's matcher key co-signed it, as in an action's take) |
| `bad_signature` | 401 | a required signature missing or not valid for the message |
| `program_error` | 409 | the chain ran it and a program refused it (detail: program, code, name) |
| `transaction_failed` | 409 | the chain refused it otherwise (stale blockhash, already processed, fees) |
| `relay_busy` | 503 | ``GTX_RELAY_MAX_CONCURRENT`` relays already wait for their chain (``Retry-After``) |
| `confirmation_timeout` | 504 | sent, not confirmed within ``GTX_RELAY_WAIT_S`` (detail: signature; may still land) |

Each relay waits for its confirmation at most ``GTX_RELAY_WAIT_S`` (default 10 s), and at
most ``GTX_RELAY_MAX_CONCURRENT`` (default 32) wait at once: a transaction that never
confirms ties up one slot for a bounded time, and a flood of them is refused at once
instead of piling up RPC polls. (The chain backend polls with backoff while it waits.)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID

from aggregator.chain.backend import ChainBackend
from aggregator.chain.certificates import Certificates
from aggregator.chain.programs import GtxProgram
from aggregator.chain.registry import Registry
from aggregator.chain.trading import USER_INSTRUCTIONS, Trading
from aggregator.chain.transactions import decompile
from aggregator.errors import AuthError, Conflict, PayloadTooLarge, Unavailable, ValidationFailed
from aggregator.onboarding import REGISTRY_USER_INSTRUCTIONS
from aggregator.trading.desk import TradingDesk
from aggregator.trading.schemas import Market, RelayResult
from common.wire import PACKET_BYTES

UNITS = {
    "energy": "Wh (GRID base units; GRID has 3 decimals, 1 GRID = 1 kWh)",
    "price": "payment-token base units per kWh (micro-units of a 6-decimal token)",
    "value": "payment-token base units: price_per_kwh * energy_wh / 1000, exact",
    "fee": "fee_bps of the value, rounded up, charged to the seller",
}


def parse_transaction(encoded: str) -> Transaction:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("malformed_transaction", "transaction is not valid base64") from exc
    if len(raw) > PACKET_BYTES:
        raise PayloadTooLarge("transaction_too_large", f"{len(raw)} bytes; a transaction holds at most {PACKET_BYTES}")
    try:
        tx = Transaction.from_bytes(raw)
        tx.sanitize()
    except Exception as exc:  # noqa: BLE001 - solders raises ValueError, SanitizeError (not importable), ...
        raise ValidationFailed("malformed_transaction", f"not a legacy transaction: {exc}") from exc
    return tx


class RelaySettings(BaseSettings):
    """Bounds of the relay (environment ``GTX_RELAY_*``)."""

    model_config = SettingsConfigDict(env_prefix="GTX_RELAY_", extra="forbid")

    wait_s: float = Field(10.0, gt=0, description="longest wait for one relayed transaction's confirmation")
    max_concurrent: int = Field(32, ge=1, description="relays waiting for the chain at once; more get 503")


class RelayBusy(Unavailable):
    status = 503


class ConfirmationTimeout(Unavailable):
    status = 504


class RelayGate:
    """At most ``max_concurrent`` relays in flight, each waiting at most ``wait_s``."""

    def __init__(self, settings: RelaySettings | None = None) -> None:
        self.settings = settings or RelaySettings()
        self.in_flight = 0

    async def relay(self, backend: ChainBackend, allowed: Mapping[Pubkey, Allowed], encoded: str) -> RelayResult:
        if self.in_flight >= self.settings.max_concurrent:
            raise RelayBusy("relay_busy", f"{self.in_flight} relays are waiting for the chain; retry shortly",
                            retry_after_s=1)
        self.in_flight += 1
        try:
            return await relay(backend, allowed, encoded, wait_s=self.settings.wait_s)
        finally:
            self.in_flight -= 1


@dataclass(frozen=True)
class Allowed:
    """A program users may call through the relay, and which of its instructions;
    `cosigned` ones pass only when one of the `cosigners` keys signed the transaction."""

    program: GtxProgram
    instructions: tuple[str, ...]
    cosigned: tuple[str, ...] = ()
    cosigners: tuple[Pubkey, ...] = ()


#: Programs any transaction may call besides the allowlist: compute budget (a priority fee
#: or compute limit the user pays for) and the associated token account program (the user
#: creates their own token account, paying its rent).
ALWAYS_ALLOWED = frozenset({COMPUTE_BUDGET_PROGRAM, ASSOCIATED_TOKEN_PROGRAM_ID})


#: Certificate instructions a user's transaction may carry: the holder's `transfer` and
#: `retire`, the meter owner's `issue`, the permissionless `expire`, and `validate`, which
#: the chain runs only with the issuer's signature: this service adds it to issuances it
#: prepared (``POST /api/certificates``), so a user can never validate on their own.
CERTIFICATE_USER_INSTRUCTIONS = ("issue", "validate", "transfer", "retire", "expire")


def relay_allowlist(trading: Trading | None, certificates: Certificates | None,
                    matchers: tuple[Pubkey, ...] = (), registry: Registry | None = None) -> dict[Pubkey, Allowed]:
    """The one list of (program, instructions) the relay passes, for the programs served;
    `settle_fills` passes when one of `matchers` (keys this service holds) co-signed it."""
    allowed = {}
    if registry is not None:
        allowed[registry.program_id] = Allowed(registry.program, REGISTRY_USER_INSTRUCTIONS)
    if trading is not None:
        allowed[trading.program_id] = Allowed(trading.program, USER_INSTRUCTIONS,
                                              ("settle_fills",) if matchers else (), matchers)
    if certificates is not None:
        allowed[certificates.program_id] = Allowed(certificates.program, CERTIFICATE_USER_INSTRUCTIONS)
    return allowed


def check_instructions(tx: Transaction, allowed: Mapping[Pubkey, Allowed]) -> list[str]:
    """Names of the transaction's instructions; refuses any the allowlist does not name."""
    names = []
    # Keys whose signature is present and valid (a co-signer must really have signed).
    signers = {key for key, ok in zip(tx.message.account_keys, tx.verify_with_results()) if ok}
    instructions = decompile(tx.message)
    if not instructions:
        raise ValidationFailed("no_instructions", "the transaction has no instructions")
    for i, ix in enumerate(instructions):
        if ix.program_id in ALWAYS_ALLOWED:
            continue
        entry = allowed.get(ix.program_id)
        if entry is None:
            raise ValidationFailed("program_not_allowed", f"instruction {i} calls {ix.program_id}, not a program "
                                   f"users may call here", instruction=i, program=str(ix.program_id))
        name = entry.program.instruction_name(ix.data)
        cosigned = name in entry.cosigned and not signers.isdisjoint(entry.cosigners)
        if name is None or (name not in entry.instructions and not cosigned):
            raise ValidationFailed("instruction_not_allowed", f"instruction {i} is {name or 'unknown'}; users may send "
                                   f"{', '.join(entry.instructions)} to {entry.program.name}", instruction=i,
                                   name=name)
        names.append(name)
    return names


def check_signatures(tx: Transaction) -> None:
    if not all(tx.verify_with_results()):
        raise AuthError("bad_signature", "a required signature is missing or does not sign this message")


async def relay(backend: ChainBackend, allowed: Mapping[Pubkey, Allowed], encoded: str,
                wait_s: float | None = None) -> RelayResult:
    tx = parse_transaction(encoded)
    names = check_instructions(tx, allowed)
    check_signatures(tx)
    try:
        result = await asyncio.wait_for(backend.send_signed(tx), wait_s)
    except TimeoutError as exc:  # asyncio's, or the backend's own deadline
        raise ConfirmationTimeout("confirmation_timeout", f"not confirmed within {wait_s} s; it may still land",
                                  signature=str(tx.signatures[0])) from exc
    if result.ok:
        return RelayResult(signature=result.signature, instructions=names, compute_units=result.compute_units)
    if result.custom_code is not None:
        program = _failed_program(tx, allowed, result.instruction_index, result.custom_code)
        raise Conflict("program_error", result.error or "program error", signature=result.signature,
                       program=program.name if program else None, code=result.custom_code, name=result.error_name,
                       instruction=result.instruction_index)
    raise Conflict("transaction_failed", result.error or "transaction failed", signature=result.signature,
                   name=result.error_name)


def _failed_program(tx: Transaction, allowed: Mapping[Pubkey, Allowed], index: int | None,
                    code: int) -> GtxProgram | None:
    """The allowed program whose instruction failed, when its IDL knows the error code."""
    if index is None:
        return None
    entry = allowed.get(decompile(tx.message)[index].program_id)
    return entry.program if entry is not None and code in entry.program.errors else None


async def markets(backend: ChainBackend, desk: TradingDesk) -> list[Market]:
    """Each served market read from its account now, with a blockhash to sign with."""
    blockhash = str(await backend.latest_blockhash())
    accounts = await backend.accounts([m.address for m in desk.markets])
    matched = {m.address for m in desk.matched_markets()}
    out = []
    for ref, account in zip(desk.markets, accounts):
        if account is None:
            continue
        m = desk.trading.decode(bytes(account.data))
        out.append(Market(
            address=str(ref.address), authority=str(m.authority), matcher=str(m.matcher),
            matched_here=ref.address in matched, grid_mint=str(desk.trading.token.mint_address()),
            payment_mint=str(m.payment_mint), grid_vault=str(m.grid_vault), payment_vault=str(m.payment_vault),
            fee_account=str(m.fee_account), fee_bps=m.fee_bps, lot_size_wh=m.lot_size_wh,
            tick_size_per_kwh_micro=m.tick_size, auction_slot_secs=m.auction_slot_secs,
            next_order_id=m.next_order_id, volume_wh=m.volume_wh, fees_collected_micro=m.fees_collected,
            recent_blockhash=blockhash, units=UNITS))
    return out
