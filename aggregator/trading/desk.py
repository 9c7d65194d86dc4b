"""The markets this aggregator serves, and the matcher key it holds for them.

* LiteSVM (in-process): :func:`local_desk` creates a payment token (6 decimals, like
  USDC), a fee account and one continuous market whose matcher is a fresh key, because
  the in-process chain starts empty; a caller may ask for auction markets beside it. The
  payment mint's authority is kept so a demo or a test can hand consumers payment tokens.
* JSON-RPC: :func:`rpc_desk` reads the configured markets from the chain and checks that
  the configured matcher key is theirs; it never creates anything on a real cluster.

The service holds no user's key: users sign their own orders (``aggregator.trading.client``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    InitializeMintParams,
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint,
)

from aggregator.chain.backend import ChainBackend
from aggregator.chain.connect import Chain, load_keypair
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.trading import MarketRef, Trading
from aggregator.config import ChainSettings

MINT_BYTES = 82  # an SPL Token mint account
PAYMENT_DECIMALS = 6
# The embedded market: 1 Wh lots and a tick of 1000 payment base units per kWh (0.001
# token per kWh at 6 decimals), so every price * size / 1000 is exact; 0.25 % fee.
LOCAL_LOT_SIZE_WH = 1
LOCAL_TICK_SIZE = 1_000
LOCAL_FEE_BPS = 25


@dataclass
class TradingDesk:
    trading: Trading
    markets: list[MarketRef]
    matcher: Keypair | None = None  # signs settle_fills for markets whose matcher it is
    payment_mint_authority: Keypair | None = None  # LiteSVM only: issues the demo payment token

    def market(self, address: str) -> MarketRef | None:
        return next((m for m in self.markets if str(m.address) == address), None)

    def matched_markets(self) -> list[MarketRef]:
        """Markets whose matcher key this desk holds."""
        if self.matcher is None:
            return []
        return [m for m in self.markets if m.matcher == self.matcher.pubkey()]


async def read_market(backend: ChainBackend, trading: Trading, address: Pubkey) -> MarketRef:
    account = await backend.account(address)
    if account is None or trading.program.account_name(bytes(account.data)) != "Market":
        raise ChainSetupError(f"{address} is not a trading market on this chain")
    m = trading.decode(bytes(account.data))
    return MarketRef(address, m.payment_mint, m.grid_vault, m.payment_vault, m.fee_account, m.matcher)


def local_desk(chain: Chain, trading: Trading | None = None, *,
               auction_slot_secs: Sequence[int] = ()) -> TradingDesk:
    """A payment token and one continuous market on the in-process chain, then one
    uniform-price auction market per entry of `auction_slot_secs` (same token, fee and
    matcher), in that order."""
    trading = trading or Trading(token=chain.registry.token)
    local = chain.local_with(trading.program, "local_desk")
    authority, matcher, mint = local.new_funded_keypair(), local.new_funded_keypair(), Keypair()
    rent = local.svm.minimum_balance_for_rent_exemption(MINT_BYTES)
    local.send([
        create_account(CreateAccountParams(from_pubkey=authority.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                           space=MINT_BYTES, owner=TOKEN_PROGRAM_ID)),
        initialize_mint(InitializeMintParams(decimals=PAYMENT_DECIMALS, program_id=TOKEN_PROGRAM_ID,
                                             mint=mint.pubkey(), mint_authority=authority.pubkey())),
        create_associated_token_account(authority.pubkey(), authority.pubkey(), mint.pubkey()),
    ], [authority, mint])
    fee_account = get_associated_token_address(authority.pubkey(), mint.pubkey())
    markets = []
    for slot_secs in (0, *auction_slot_secs):
        local.send([trading.initialize_market(authority.pubkey(), mint.pubkey(), fee_account, matcher=matcher.pubkey(),
                                              fee_bps=LOCAL_FEE_BPS, lot_size_wh=LOCAL_LOT_SIZE_WH,
                                              tick_size=LOCAL_TICK_SIZE, auction_slot_secs=slot_secs)], [authority])
        markets.append(trading.market_ref(local, trading.market_address(authority.pubkey(), mint.pubkey(), slot_secs)))
    return TradingDesk(trading, markets, matcher, authority)


def _market_address(text: str) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError as exc:  # a typo in GTX_CHAIN_MARKETS: say which entry, not a bare base58 error
        raise ChainSetupError(f"GTX_CHAIN_MARKETS entry {text!r} is not a base58 account address") from exc


async def rpc_desk(chain: Chain, settings: ChainSettings, trading: Trading | None = None) -> TradingDesk:
    """The configured markets as the chain has them; the matcher key must be theirs."""
    trading = trading or Trading(token=chain.registry.token)
    matcher = load_keypair(settings.matcher_keypair) if settings.matcher_keypair is not None else None
    markets = [await read_market(chain.backend, trading, _market_address(a)) for a in settings.markets]
    if matcher is not None:
        foreign = [str(m.address) for m in markets if m.matcher != matcher.pubkey()]
        if foreign:
            raise ChainSetupError(f"{settings.matcher_keypair} ({matcher.pubkey()}) is not the matcher of {foreign}")
    return TradingDesk(trading, markets, matcher)
