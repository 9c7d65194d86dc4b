"""A trading floor in LiteSVM for the trading program's tests and the trading bench.

Everything is real: the registry, energy_token and trading programs are deployed at
their ids, traders get GRID the way prosumers do (a meter, the oracle's readings and
`settle_and_mint`), and the payment token is a classic SPL mint with 6 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    InitializeMintParams,
    MintToParams,
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint,
    mint_to,
)

from aggregator.chain import PROSUMER, LocalChain, Registry, TxResult
from aggregator.chain.energy_token import token_amount
from aggregator.chain.trading import ASK, BID, MarketRef, Trading

CHAIN_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z
MINT_LEN = 82
PAYMENT_DECIMALS = 6
# Market defaults: 1 Wh lots and prices in whole payment units per Wh (1000 per kWh),
# so every price * size / 1000 is exact; 0.25 % fee.
LOT_WH = 1
TICK = 1_000
FEE_BPS = 25


@dataclass
class Trader:
    wallet: Keypair
    grid_account: Pubkey
    payment_account: Pubkey

    @property
    def pubkey(self) -> Pubkey:
        return self.wallet.pubkey()


@dataclass
class Floor:
    """A chain with the three programs, a payment mint, traders and a market."""

    chain: LocalChain
    trading: Trading
    registry: Registry
    authority: Keypair
    oracle: Keypair
    matcher: Keypair
    payment_mint: Pubkey
    fee_account: Pubkey
    traders: list[Trader] = field(default_factory=list)
    market: MarketRef | None = None
    _meters: int = 0

    # --- set-up ------------------------------------------------------------------------
    @classmethod
    def create(cls, *, trading: Trading | None = None, registry: Registry | None = None,
               token_program: bytes | None = None) -> Floor:
        """`token_program`: an SPL Token build (ELF) to run instead of LiteSVM's own classic
        one, e.g. p-token (SIMD-0266), for side-by-side measurements."""
        trading = trading or Trading()
        registry = registry or Registry(token=trading.token)
        chain = LocalChain([registry.program, registry.token.program, trading.program], unix_timestamp=CHAIN_TIME)
        if token_program is not None:
            chain.svm.add_program(TOKEN_PROGRAM_ID, token_program)
        authority, oracle, matcher = chain.deployer(), Keypair(), chain.new_funded_keypair()
        chain.send([registry.initialize(authority.pubkey(), oracle.pubkey()),
                    registry.token.initialize(authority.pubkey())], [authority])
        mint = Keypair()
        rent = chain.svm.minimum_balance_for_rent_exemption(MINT_LEN)
        chain.send([
            create_account(CreateAccountParams(from_pubkey=authority.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                               space=MINT_LEN, owner=TOKEN_PROGRAM_ID)),
            initialize_mint(InitializeMintParams(decimals=PAYMENT_DECIMALS, program_id=TOKEN_PROGRAM_ID,
                                                 mint=mint.pubkey(), mint_authority=authority.pubkey())),
            create_associated_token_account(authority.pubkey(), authority.pubkey(), mint.pubkey()),
        ], [authority, mint])
        fee_account = get_associated_token_address(authority.pubkey(), mint.pubkey())
        return cls(chain, trading, registry, authority, oracle, matcher, mint.pubkey(), fee_account)

    def open_market(self, *, fee_bps: int = FEE_BPS, lot_size_wh: int = LOT_WH, tick_size: int = TICK,
                    auction_slot_secs: int = 0) -> MarketRef:
        ix = self.trading.initialize_market(self.authority.pubkey(), self.payment_mint, self.fee_account,
                                            matcher=self.matcher.pubkey(), fee_bps=fee_bps, lot_size_wh=lot_size_wh,
                                            tick_size=tick_size, auction_slot_secs=auction_slot_secs)
        self.chain.send([ix], [self.authority])
        address = self.trading.market_address(self.authority.pubkey(), self.payment_mint, auction_slot_secs)
        self.market = self.trading.market_ref(self.chain, address)
        return self.market

    @property
    def opened(self) -> MarketRef:
        """The market :meth:`open_market` opened (an error before it did)."""
        if self.market is None:
            raise RuntimeError("no market yet: call open_market() first")
        return self.market

    def add_traders(self, count: int, *, grid_wh: int, payment: int) -> list[Trader]:
        """New wallets holding `grid_wh` GRID (minted from metered surplus through the
        registry) and `payment` payment units each."""
        token, registry = self.registry.token, self.registry
        new = [self.chain.new_funded_keypair() for _ in range(count)]
        for start in range(0, count, 8):
            batch = new[start:start + 8]
            meters = []
            for wallet in batch:
                self._meters += 1
                meter_id = f"TRADER-{self._meters:04d}"
                meters.append((meter_id, wallet.pubkey()))
                self.chain.send([
                    registry.register_user(wallet.pubkey(), PROSUMER),
                    registry.register_meter(wallet.pubkey(), meter_id, bytes(Keypair().pubkey()), "trading floor"),
                    token.create_token_account(wallet.pubkey(), wallet.pubkey()),
                    create_associated_token_account(wallet.pubkey(), wallet.pubkey(), self.payment_mint),
                    mint_to(MintToParams(program_id=TOKEN_PROGRAM_ID, mint=self.payment_mint,
                                         dest=get_associated_token_address(wallet.pubkey(), self.payment_mint),
                                         mint_authority=self.authority.pubkey(), amount=payment)),
                ], [wallet, self.authority])
                if grid_wh:
                    self.chain.send([registry.submit_readings(self.oracle.pubkey(), meter_id, grid_wh, 0, CHAIN_TIME)],
                                    [self.authority, self.oracle])
            if grid_wh:
                self.chain.send([registry.settle_and_mint(meters)], [self.authority])
        traders = [Trader(w, token.token_account(w.pubkey()),
                          get_associated_token_address(w.pubkey(), self.payment_mint))
                   for w in new]
        self.traders += traders
        return traders

    # --- actions ----------------------------------------------------------------------
    def next_order_id(self) -> int:
        return self.trading.read(self.chain, self.opened.address).next_order_id

    def place(self, trader: Trader, side: int, price_per_kwh: int, size_wh: int, *, expires_at: int = 0,
              check: bool = True, from_balance: bool = False) -> tuple[Pubkey, TxResult]:
        """Place an order escrowed from the trader's token account, or from the trader's
        balance account with `from_balance`."""
        order_id = self.next_order_id()
        source = self.balance_account(trader) if from_balance else None
        ix = self.trading.place_order(trader.pubkey, self.opened, order_id, side=side, price_per_kwh=price_per_kwh,
                                      size_wh=size_wh, expires_at=expires_at, source=source)
        result = self.chain.send([ix], [trader.wallet], check=check)
        return self.trading.order_address(self.opened.address, order_id), result

    def deposit(self, trader: Trader, side: int, amount: int) -> Pubkey:
        """Move `amount` of what an order of `side` escrows into the trader's balance
        account; its address."""
        self.chain.send([self.trading.deposit(trader.pubkey, self.opened, amount, side=side)], [trader.wallet])
        return self.balance_account(trader)

    def balance_account(self, trader: Trader) -> Pubkey:
        return self.trading.balance_address(self.opened.address, trader.pubkey)

    def held(self, trader: Trader) -> tuple[int, int]:
        """(GRID Wh, payment units) in the trader's balance account; zeros without one."""
        acc = self.trading.read(self.chain, self.balance_account(trader))
        return (0, 0) if acc is None else (acc.grid_wh, acc.payment)

    def bid(self, trader: Trader, price_per_kwh: int, size_wh: int, **kw) -> Pubkey:
        return self.place(trader, BID, price_per_kwh, size_wh, **kw)[0]

    def ask(self, trader: Trader, price_per_kwh: int, size_wh: int, **kw) -> Pubkey:
        return self.place(trader, ASK, price_per_kwh, size_wh, **kw)[0]

    def order(self, address: Pubkey):
        return self.trading.read(self.chain, address)

    def settle(self, fills, *, check: bool = True, **kw) -> TxResult:
        return self.chain.send([self.trading.settle_fills(self.opened, fills, **kw)], [self.matcher], check=check)

    # --- balances -----------------------------------------------------------------------
    def balance(self, account: Pubkey) -> int:
        acc = self.chain.account(account)
        return 0 if acc is None else token_amount(bytes(acc.data))

    def grid_balances(self) -> dict[Pubkey, int]:
        accounts = [t.grid_account for t in self.traders] + [self.opened.grid_vault]
        return {a: self.balance(a) for a in accounts}

    def payment_balances(self) -> dict[Pubkey, int]:
        accounts = [t.payment_account for t in self.traders] + [self.opened.payment_vault, self.fee_account]
        return {a: self.balance(a) for a in accounts}
