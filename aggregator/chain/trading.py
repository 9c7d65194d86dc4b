"""Instruction builders, account readers and v0 transactions for the trading program.

Units follow the program: GRID in Wh (base units, 3 decimals), prices in payment-token
base units per kWh, a fill's value `price_per_kwh * energy_wh // 1000` (exact: markets
require `tick_size * lot_size_wh` to be a multiple of 1000), fees rounded up.

`settle_fills` batches are limited by compute and by the transaction's account list, not
by the 1,232-byte packet, once their accounts come from an address lookup table:
`create_lookup_table` makes one and `send_v0` sends a v0 message that uses it. Both work
on the in-process LiteSVM chain; `v0_transaction` builds the same transaction for any
backend.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solders.address_lookup_table_account import ID as LOOKUP_TABLE_PROGRAM_ID
from solders.address_lookup_table_account import (
    AddressLookupTable,
    AddressLookupTableAccount,
    derive_lookup_table_address,
)
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from aggregator.chain.energy_token import EnergyToken
from aggregator.chain.errors import ChainError, ChainSetupError
from aggregator.chain.litesvm import LocalChain
from aggregator.chain.programs import SYSTEM_PROGRAM, GtxProgram, idl_constant, idl_enum
from aggregator.chain.transactions import TxResult
from common.wire import WH_PER_KWH

# Program limits and enum values come from the IDL (generated from interface.toml).
SIDES = idl_enum("trading", "OrderSide")
BID, ASK = SIDES["bid"], SIDES["ask"]
MAX_FILLS = idl_constant("trading", "MAX_FILLS")
BPS = 10_000


def value_of(price_per_kwh: int, energy_wh: int) -> int:
    """Payment units for `energy_wh` at `price_per_kwh` (exact in a valid market)."""
    return price_per_kwh * energy_wh // WH_PER_KWH


def fee_of(value: int, fee_bps: int) -> int:
    """The market's fee on a fill's value, rounded up (charged to the seller)."""
    return -(-value * fee_bps // BPS)


@dataclass(frozen=True)
class MarketRef:
    """What instruction builders need to know about a market (read once from chain)."""

    address: Pubkey
    payment_mint: Pubkey
    grid_vault: Pubkey
    payment_vault: Pubkey
    fee_account: Pubkey
    matcher: Pubkey

    def vault(self, side: int) -> Pubkey:
        return self.grid_vault if side == ASK else self.payment_vault


@dataclass(frozen=True)
class Fill:
    """One fill of a batch: `energy_wh` from the ask to the bid. Proceeds go to the
    owners' associated token accounts unless other accounts are named: another token
    account of the owner, or the owner's balance account in the market (`balance_address`),
    which is credited in place instead of paid by a token transfer."""

    bid: Pubkey
    ask: Pubkey
    buyer: Pubkey
    seller: Pubkey
    energy_wh: int
    buyer_grid_account: Pubkey | None = None
    seller_payment_account: Pubkey | None = None


class Trading:
    def __init__(self, program: GtxProgram | None = None, token: EnergyToken | None = None) -> None:
        self.program = program or GtxProgram("trading")
        self.token = token or EnergyToken()

    @property
    def program_id(self) -> Pubkey:
        return self.program.program_id

    # --- addresses ---------------------------------------------------------------
    def market_address(self, authority: Pubkey, payment_mint: Pubkey, auction_slot_secs: int) -> Pubkey:
        return self.program.pda(b"market", bytes(authority), bytes(payment_mint), struct.pack("<I", auction_slot_secs))

    def grid_vault_address(self, market: Pubkey) -> Pubkey:
        return self.program.pda(b"grid_vault", bytes(market))

    def payment_vault_address(self, market: Pubkey) -> Pubkey:
        return self.program.pda(b"payment_vault", bytes(market))

    def order_address(self, market: Pubkey, order_id: int) -> Pubkey:
        return self.order_pda(market, order_id)[0]

    def order_pda(self, market: Pubkey, order_id: int) -> tuple[Pubkey, int]:
        """The order's address and canonical bump (place_order takes the bump, so the
        program checks the address without searching for it)."""
        return Pubkey.find_program_address([b"order", bytes(market), struct.pack("<Q", order_id)], self.program_id)

    def balance_address(self, market: Pubkey, owner: Pubkey) -> Pubkey:
        """The owner's balance account in `market` (funds held by the market outside orders)."""
        return self.program.pda(b"balance", bytes(market), bytes(owner))

    def token_account(self, owner: Pubkey, side: int, market: MarketRef) -> Pubkey:
        """The owner's associated token account for what an order of `side` escrows."""
        mint = self.token.mint_address() if side == ASK else market.payment_mint
        return get_associated_token_address(owner, mint)

    # --- instructions --------------------------------------------------------------
    def initialize_market(self, authority: Pubkey, payment_mint: Pubkey, fee_account: Pubkey, *, matcher: Pubkey,
                          fee_bps: int, lot_size_wh: int, tick_size: int, auction_slot_secs: int = 0) -> Instruction:
        market = self.market_address(authority, payment_mint, auction_slot_secs)
        return self.program.ix(
            "initialize_market", matcher, fee_bps, lot_size_wh, tick_size, auction_slot_secs,
            accounts={"authority": authority, "market": market, "grid_mint": self.token.mint_address(),
                      "payment_mint": payment_mint, "grid_vault": self.grid_vault_address(market),
                      "payment_vault": self.payment_vault_address(market), "fee_account": fee_account,
                      "token_program": TOKEN_PROGRAM_ID, "system_program": SYSTEM_PROGRAM})

    def place_order(self, owner: Pubkey, market: MarketRef, order_id: int, *, side: int, price_per_kwh: int,
                    size_wh: int, expires_at: int = 0, source: Pubkey | None = None) -> Instruction:
        """Place order `order_id`, which must be the market's `next_order_id`. The escrow
        comes from `source`: by default the owner's associated token account; the owner's
        balance account (`balance_address`) spends deposited funds without a transfer."""
        order, bump = self.order_pda(market.address, order_id)
        return self.program.ix(
            "place_order", side, price_per_kwh, size_wh, expires_at, bump,
            accounts={"owner": owner, "market": market.address, "order": order,
                      "source": source or self.token_account(owner, side, market), "vault": market.vault(side),
                      "token_program": TOKEN_PROGRAM_ID, "system_program": SYSTEM_PROGRAM})

    def deposit(self, owner: Pubkey, market: MarketRef, amount: int, *, side: int | None = None,
                mint: Pubkey | None = None, source: Pubkey | None = None) -> Instruction:
        """Move `amount` of GRID (`side=ASK`, what asks escrow) or of the payment token
        (`side=BID`) from the owner's token account into the owner's balance account."""
        mint = mint or (self.token.mint_address() if side == ASK else market.payment_mint)
        vault = market.grid_vault if mint == self.token.mint_address() else market.payment_vault
        return self.program.ix("deposit", amount, accounts={
            "owner": owner, "market": market.address, "balance": self.balance_address(market.address, owner),
            "source": source or get_associated_token_address(owner, mint), "vault": vault,
            "token_program": TOKEN_PROGRAM_ID, "system_program": SYSTEM_PROGRAM})

    def withdraw(self, owner: Pubkey, market: MarketRef, amount: int, *, side: int | None = None,
                 mint: Pubkey | None = None, destination: Pubkey | None = None) -> Instruction:
        """Take `amount` of GRID (`side=ASK`) or of the payment token (`side=BID`) out of
        the owner's balance account into the owner's token account."""
        mint = mint or (self.token.mint_address() if side == ASK else market.payment_mint)
        vault = market.grid_vault if mint == self.token.mint_address() else market.payment_vault
        return self.program.ix("withdraw", amount, accounts={
            "owner": owner, "market": market.address, "balance": self.balance_address(market.address, owner),
            "destination": destination or get_associated_token_address(owner, mint), "vault": vault,
            "token_program": TOKEN_PROGRAM_ID})

    def cancel_order(self, owner: Pubkey, market: MarketRef, order: Pubkey, side: int,
                     destination: Pubkey | None = None) -> Instruction:
        return self.program.ix("cancel_order", accounts={
            "owner": owner, "market": market.address, "order": order,
            "destination": destination or self.token_account(owner, side, market), "vault": market.vault(side),
            "token_program": TOKEN_PROGRAM_ID})

    def expire_order(self, owner: Pubkey, market: MarketRef, order: Pubkey, side: int,
                     destination: Pubkey | None = None) -> Instruction:
        """Close an expired or filled order back to `owner` (anyone may send it)."""
        return self.program.ix("expire_order", accounts={
            "market": market.address, "order": order, "owner": owner,
            "destination": destination or self.token_account(owner, side, market), "vault": market.vault(side),
            "token_program": TOKEN_PROGRAM_ID})

    def refund_improvement(self, market: MarketRef, bids: Sequence[tuple[Pubkey, Pubkey]], *,
                           to_balance: bool = False) -> Instruction:
        """Pay each bid's price improvement so far to its owner; `bids` are (bid order,
        owner wallet) pairs, refunded to the owner's associated payment token account, or
        with `to_balance` credited to the owner's balance account in the market."""
        remaining = []
        for order, owner in bids:
            to = (self.balance_address(market.address, owner) if to_balance
                  else get_associated_token_address(owner, market.payment_mint))
            remaining += [AccountMeta(order, False, True), AccountMeta(to, False, True)]
        return self.program.ix("refund_improvement", accounts={
            "market": market.address, "payment_vault": market.payment_vault, "token_program": TOKEN_PROGRAM_ID},
            remaining=remaining)

    def settle_fills(self, market: MarketRef, fills: Sequence[Fill], *, auction_slot: int = 0,
                     clearing_price: int = 0) -> Instruction:
        remaining = []
        for f in fills:
            remaining += [
                AccountMeta(f.bid, False, True), AccountMeta(f.ask, False, True),
                AccountMeta(f.buyer_grid_account or get_associated_token_address(f.buyer, self.token.mint_address()),
                            False, True),
                AccountMeta(f.seller_payment_account or get_associated_token_address(f.seller, market.payment_mint),
                            False, True),
            ]
        return self.program.ix(
            "settle_fills", auction_slot, clearing_price, [f.energy_wh for f in fills],
            accounts={"matcher": market.matcher, "market": market.address, "grid_vault": market.grid_vault,
                      "payment_vault": market.payment_vault, "fee_account": market.fee_account,
                      "token_program": TOKEN_PROGRAM_ID},
            remaining=remaining)

    # --- accounts --------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        return self.program.decode_account(data)

    def market_ref(self, chain: LocalChain, market: Pubkey) -> MarketRef:
        m = self.read(chain, market)
        return MarketRef(market, m.payment_mint, m.grid_vault, m.payment_vault, m.fee_account, m.matcher)

    def read(self, chain: LocalChain, address: Pubkey) -> Any:
        """Decoded Market or Order at `address`; None when the account does not exist."""
        acc = chain.account(address)
        return None if acc is None else self.decode(bytes(acc.data))


# --- address lookup tables and v0 transactions --------------------------------------------

def create_lookup_table(
    chain: LocalChain, authority: Keypair, addresses: Sequence[Pubkey]
) -> AddressLookupTableAccount:
    """Create and fill an address lookup table, and advance one slot so it can be used.

    The ALT program's instructions are bincode: a u32 tag, then the fields (create: recent
    slot u64 and bump u8; extend: u64 count and the addresses).
    """
    slot = chain.svm.get_clock().slot
    # A cluster's SlotHashes sysvar holds recent slots; LiteSVM's never advances, so record
    # the current slot there, as a cluster would once the slot is done.
    hashes = chain.svm.get_slot_hashes()
    if all(s != slot for s, _ in hashes):
        chain.svm.set_slot_hashes([(slot, chain.svm.latest_blockhash()), *hashes])
    table, bump = derive_lookup_table_address(authority.pubkey(), slot)
    metas = [AccountMeta(table, False, True), AccountMeta(authority.pubkey(), True, False),
             AccountMeta(authority.pubkey(), True, True), AccountMeta(SYSTEM_PROGRAM, False, False)]
    chain.send([Instruction(LOOKUP_TABLE_PROGRAM_ID, struct.pack("<IQB", 0, slot, bump), metas)], [authority])
    unique = list(dict.fromkeys(addresses))
    for start in range(0, len(unique), 20):  # 20 addresses per extend keeps each under a packet
        chunk = unique[start:start + 20]
        data = struct.pack("<IQ", 2, len(chunk)) + b"".join(bytes(a) for a in chunk)
        chain.send([Instruction(LOOKUP_TABLE_PROGRAM_ID, data, metas)], [authority])
    # Addresses added in a slot become usable in the next one; keep the clock's time.
    clock = chain.svm.get_clock()
    chain.svm.warp_to_slot(clock.slot + 1)
    chain.set_time(clock.unix_timestamp)
    account = chain.svm.get_account(table)
    if account is None:
        raise ChainSetupError(f"lookup table {table} was not created")
    stored = AddressLookupTable.deserialize(bytes(account.data))
    return AddressLookupTableAccount(table, list(stored.addresses))


def v0_transaction(chain: LocalChain, instructions: Sequence[Instruction], signers: Sequence[Keypair],
                   tables: Sequence[AddressLookupTableAccount]) -> VersionedTransaction:
    """A signed v0 transaction (the first signer pays) that loads accounts from `tables`."""
    message = MessageV0.try_compile(signers[0].pubkey(), list(instructions), list(tables), chain.svm.latest_blockhash())
    return VersionedTransaction(message, list(dict.fromkeys(signers)))


def send_v0(chain: LocalChain, instructions: Sequence[Instruction], signers: Sequence[Keypair],
            tables: Sequence[AddressLookupTableAccount], *, check: bool = True) -> TxResult:
    """Like `LocalChain.send`, as a v0 transaction using address lookup tables."""
    outcome = chain.svm.send_transaction(v0_transaction(chain, instructions, signers, tables))
    chain.svm.expire_blockhash()
    if not isinstance(outcome, FailedTransactionMetadata):
        return TxResult(str(outcome.signature()), True, list(outcome.logs()), outcome.compute_units_consumed())
    meta, err = outcome.meta(), outcome.err()
    result = TxResult(str(meta.signature()), False, list(meta.logs()), meta.compute_units_consumed())
    inner = getattr(err, "err", None)
    result.error = str(inner if inner is not None else err)
    result.instruction_index = getattr(err, "index", None)
    result.custom_code = getattr(inner, "code", None)
    if result.instruction_index is not None and result.custom_code is not None:
        program = chain.programs.get(instructions[result.instruction_index].program_id)
        known = program.errors.get(result.custom_code) if program else None
        if known:
            result.error_name, result.error = known.name, known.msg
    if check:
        raise ChainError(result)
    return result


# --- reading instructions and the clock (the relay and the matcher) ----------------------

#: Instructions a user's own wallet signs; the aggregator relays only these.
USER_INSTRUCTIONS = ("place_order", "cancel_order", "expire_order", "refund_improvement", "deposit", "withdraw")


def instruction_discriminator(name: str) -> bytes:
    """Anchor's discriminator of instruction `name` (snake_case): sha256("global:<name>")[:8]."""
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


_INSTRUCTION_NAMES = {instruction_discriminator(n): n for n in
                      ("initialize_market", "place_order", "cancel_order", "expire_order", "settle_fills",
                       "refund_improvement", "deposit", "withdraw")}


def instruction_name(data: bytes) -> str | None:
    """Which trading instruction `data` encodes (None when it is none of them)."""
    return _INSTRUCTION_NAMES.get(bytes(data[:8]))


def clock_unix_timestamp(clock_data: bytes) -> int:
    """`unix_timestamp` of the Clock sysvar (slot, epoch_start_timestamp, epoch,
    leader_schedule_epoch, unix_timestamp: five 8-byte little-endian fields)."""
    return struct.unpack_from("<q", clock_data, 32)[0]
