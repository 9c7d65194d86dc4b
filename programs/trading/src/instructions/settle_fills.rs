//! `settle_fills(auction_slot, clearing_price, sizes_wh)`: the matcher's batch of fills,
//! applied atomically.
//!
//! Each fill names a bid, an ask, the buyer's GRID token account and the seller's payment
//! token account. Every fill is checked (both orders open, of this market, on the right
//! side, not expired, different owners, size within both remainders, price within both
//! limits) and applied to the orders in turn, so an order named in several fills sees its
//! earlier fills. A failing fill fails the whole transaction, which undoes the earlier ones.
//!
//! Price: continuous markets trade at the maker's (older order's) limit; auction markets
//! at the slot's single clearing price. The buyer pays `price * size / 1000` out of the
//! bid's escrow; the difference to its own limit (price improvement) stays in the bid's
//! escrow and goes back to the buyer when the order is closed. The seller receives the
//! value minus the fee, rounded up in the market's favour.
//!
//! Destinations are the owners' token accounts or their balance accounts in this market.
//! A balance is credited in place; token accounts are paid by transfers, netted: one CPI
//! per distinct token account for GRID, one per distinct seller token account for
//! payment. All fees of the batch go to the fee account in one transfer.

use gtx_common::{bytes, checks, event, ids, sysvar, CommonError, Context};
use pinocchio::{error::ProgramError, AccountView, ProgramResult};
use pinocchio_token::instructions::Transfer;

use super::{
    balance::{self, Asset, Holder},
    check_token_program,
    market::Market,
    order::{value_of, Order},
    ASK, BID,
};
use crate::{
    interface::{
        events::{auction_cleared as cleared_ev, fill_settled as ev},
        ix::settle_fills as ixd,
        state::{market as mkt, order as ord},
        Error,
    },
    MAX_FILLS,
};

const PER_FILL: usize = 4;
const BPS: u64 = 10_000;

/// `value * fee_bps / 10000`, rounded up, without a 128-bit product.
#[inline(always)]
fn fee_of(value: u64, fee_bps: u64) -> u64 {
    let (whole, rest) = (value / BPS, value % BPS);
    whole * fee_bps + (rest * fee_bps).div_ceil(BPS)
}

/// Amounts owed to distinct destination accounts (indices into the account list).
struct Payouts {
    to: [usize; MAX_FILLS],
    amount: [u64; MAX_FILLS],
    len: usize,
}

impl Payouts {
    const fn new() -> Self {
        Payouts { to: [0; MAX_FILLS], amount: [0; MAX_FILLS], len: 0 }
    }

    /// Add `amount` for `accounts[index]`, merged with an earlier entry for the same
    /// account (a repeated account shares its view, so comparing views compares accounts).
    #[inline(always)]
    fn add(&mut self, accounts: &[AccountView], index: usize, amount: u64) -> Result<(), ProgramError> {
        for k in 0..self.len {
            if accounts[self.to[k]] == accounts[index] {
                self.amount[k] = self.amount[k].checked_add(amount).ok_or(CommonError::ArithmeticOverflow)?;
                return Ok(());
            }
        }
        self.to[self.len] = index;
        self.amount[self.len] = amount;
        self.len += 1;
        Ok(())
    }

    /// Transfer every amount out of the vault at `from`, signed by the market PDA.
    fn pay(&self, vault: usize, payer: &Payer) -> ProgramResult {
        let from = &payer.accounts[vault];
        for k in 0..self.len {
            if self.amount[k] == 0 {
                continue;
            }
            let (to, amount) = (&payer.accounts[self.to[k]], self.amount[k]);
            payer.market.signed(|signer| Transfer::new(from, to, payer.authority, amount).invoke_signed(signer))?;
        }
        Ok(())
    }
}

/// What vault transfers need: the accounts, and the market PDA that owns the vaults.
struct Payer<'a> {
    accounts: &'a [AccountView],
    authority: &'a AccountView,
    market: &'a Market,
}

/// How fills are priced in this call.
#[derive(Clone, Copy)]
enum Pricing {
    /// At the older order's limit.
    Maker,
    /// At `price` for orders placed before `slot_end`.
    Auction { slot: u64, price: u64, slot_end: i64 },
}

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    if data.len() < ixd::arg::MIN_LEN {
        return Err(CommonError::InvalidInstructionData.into());
    }
    let count = bytes::read_u32(data, ixd::arg::SIZES_WH) as usize;
    if count == 0 || count > MAX_FILLS || data.len() != ixd::arg::MIN_LEN + 8 * count {
        return Err(Error::InvalidBatch.into());
    }
    if accounts.len() != ixd::ACCOUNTS + PER_FILL * count {
        return Err(Error::InvalidBatch.into());
    }
    let matcher = &accounts[ixd::account::MATCHER];
    let market_account = &accounts[ixd::account::MARKET];
    let grid_vault = &accounts[ixd::account::GRID_VAULT];
    let payment_vault = &accounts[ixd::account::PAYMENT_VAULT];
    let fee_account = &accounts[ixd::account::FEE_ACCOUNT];
    checks::signer(matcher)?;
    let market = Market::load(market_account, program_id)?;
    if matcher.address().as_array() != &market.matcher {
        return Err(Error::NotMatcher.into());
    }
    checks::writable(market_account)?;
    checks::writable(grid_vault)?;
    checks::writable(payment_vault)?;
    checks::writable(fee_account)?;
    if grid_vault.address().as_array() != &market.grid_vault || payment_vault.address().as_array() != &market.payment_vault {
        return Err(Error::InvalidVault.into());
    }
    if fee_account.address().as_array() != &market.fee_account {
        return Err(Error::InvalidFeeAccount.into());
    }
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    let now = sysvar::unix_timestamp()?;
    let (pricing, new_clearing) = pricing(market_account, &market, data, now)?;

    let market_key = market_account.address().to_bytes();
    let mut grid_out = Payouts::new();
    let mut payment_out = Payouts::new();
    let (mut fees, mut volume_wh) = (0u64, 0u64);
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::MARKET, &market_key);
    if let Pricing::Auction { slot, .. } = pricing {
        bytes::write_u64(&mut e, ev::AUCTION_SLOT, slot);
    }
    for i in 0..count {
        let size = bytes::read_u64(data, ixd::arg::MIN_LEN + 8 * i);
        let base = ixd::ACCOUNTS + PER_FILL * i;
        let fill = Fill { market: &market, market_key: &market_key, pricing, now, size };
        let Checked { bid, ask, price, buyer_to, seller_to } = fill.check(accounts, base, program_id)?;
        let value = value_of(price, size)?;
        let fee = fee_of(value, market.fee_bps);
        let improvement = value_of(bid.price_per_kwh, size)? - value;
        let bid_left = bid.remaining_wh - size;
        let ask_left = ask.remaining_wh - size;
        write_fill(&mut accounts[base], bid_left, bid.escrow_amount - value)?;
        write_fill(&mut accounts[base + 1], ask_left, ask.escrow_amount - size)?;
        match buyer_to {
            Holder::Token => grid_out.add(accounts, base + 2, size)?,
            Holder::Balance => {
                balance::credit(accounts[base + 2], Asset::Grid, size)?;
            }
        }
        match seller_to {
            Holder::Token => payment_out.add(accounts, base + 3, value - fee)?,
            Holder::Balance => {
                balance::credit(accounts[base + 3], Asset::Payment, value - fee)?;
            }
        }
        fees = fees.checked_add(fee).ok_or(CommonError::ArithmeticOverflow)?;
        volume_wh = volume_wh.checked_add(size).ok_or(CommonError::ArithmeticOverflow)?;

        bytes::write_u64(&mut e, ev::BID_ID, bid.order_id);
        bytes::write_u64(&mut e, ev::ASK_ID, ask.order_id);
        bytes::write(&mut e, ev::BUYER, &bid.owner);
        bytes::write(&mut e, ev::SELLER, &ask.owner);
        bytes::write_u64(&mut e, ev::PRICE_PER_KWH, price);
        bytes::write_u64(&mut e, ev::ENERGY_WH, size);
        bytes::write_u64(&mut e, ev::VALUE, value);
        bytes::write_u64(&mut e, ev::FEE, fee);
        bytes::write_u64(&mut e, ev::BUYER_IMPROVEMENT, improvement);
        bytes::write_u64(&mut e, ev::BID_REMAINING_WH, bid_left);
        bytes::write_u64(&mut e, ev::ASK_REMAINING_WH, ask_left);
        event::emit(&e);
    }

    {
        let mut d = accounts[ixd::account::MARKET].try_borrow_mut()?;
        let v = bytes::read_u64(&d, mkt::VOLUME_WH).checked_add(volume_wh).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, mkt::VOLUME_WH, v);
        let f = bytes::read_u64(&d, mkt::FEES_COLLECTED).checked_add(fees).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, mkt::FEES_COLLECTED, f);
        if let (true, Pricing::Auction { slot, price, .. }) = (new_clearing, pricing) {
            bytes::write_u64(&mut d, mkt::CLEARED_SLOT, slot);
            bytes::write_u64(&mut d, mkt::CLEARING_PRICE, price);
        }
    }
    if let (true, Pricing::Auction { slot, price, .. }) = (new_clearing, pricing) {
        let mut c = [0u8; cleared_ev::LEN];
        bytes::write(&mut c, 0, &cleared_ev::DISCRIMINATOR);
        bytes::write(&mut c, cleared_ev::MARKET, &market_key);
        bytes::write_u64(&mut c, cleared_ev::AUCTION_SLOT, slot);
        bytes::write_u64(&mut c, cleared_ev::CLEARING_PRICE, price);
        event::emit(&c);
    }

    let accounts = &*accounts;
    let payer = Payer { accounts, authority: &accounts[ixd::account::MARKET], market: &market };
    grid_out.pay(ixd::account::GRID_VAULT, &payer)?;
    payment_out.pay(ixd::account::PAYMENT_VAULT, &payer)?;
    if fees > 0 {
        let (from, to) = (&accounts[ixd::account::PAYMENT_VAULT], &accounts[ixd::account::FEE_ACCOUNT]);
        market.signed(|s| Transfer::new(from, to, payer.authority, fees).invoke_signed(s))?;
    }
    Ok(())
}

/// The pricing rule of this call, and whether it clears a new auction slot.
fn pricing(market_account: &AccountView, market: &Market, data: &[u8], now: i64) -> Result<(Pricing, bool), ProgramError> {
    let slot = bytes::read_u64(data, ixd::arg::AUCTION_SLOT);
    let price = bytes::read_u64(data, ixd::arg::CLEARING_PRICE);
    if market.auction_slot_secs == 0 {
        if slot != 0 || price != 0 {
            return Err(Error::NotAnAuctionMarket.into());
        }
        return Ok((Pricing::Maker, false));
    }
    if price == 0 || price % market.tick_size != 0 {
        return Err(Error::InvalidPrice.into());
    }
    let end = slot
        .checked_add(1)
        .and_then(|s| gtx_common::math::mul(s, market.auction_slot_secs as u64))
        .filter(|&end| end <= i64::MAX as u64)
        .ok_or(CommonError::ArithmeticOverflow)? as i64;
    if now < end {
        return Err(Error::AuctionSlotNotOver.into());
    }
    // SAFETY: read-only peek at the clearing state; no mutable borrow of the market is live.
    let d = unsafe { market_account.borrow_unchecked() };
    let (cleared_slot, cleared_price) = (bytes::read_u64(d, mkt::CLEARED_SLOT), bytes::read_u64(d, mkt::CLEARING_PRICE));
    let new_clearing = cleared_price == 0 || slot > cleared_slot;
    if !new_clearing {
        if slot < cleared_slot {
            return Err(Error::AuctionSlotClosed.into());
        }
        if price != cleared_price {
            return Err(Error::ClearingPriceMismatch.into());
        }
    }
    Ok((Pricing::Auction { slot, price, slot_end: end }, new_clearing))
}

/// A checked fill: both orders, the price, and what holds each destination.
struct Checked {
    bid: Order,
    ask: Order,
    price: u64,
    buyer_to: Holder,
    seller_to: Holder,
}

/// One fill's checks, against the market and the pricing rule of the call.
struct Fill<'a> {
    market: &'a Market,
    market_key: &'a [u8; 32],
    pricing: Pricing,
    now: i64,
    size: u64,
}

impl Fill<'_> {
    /// Check the four accounts at `base`.
    #[inline(always)]
    fn check(&self, accounts: &[AccountView], base: usize, program_id: &pinocchio::Address) -> Result<Checked, ProgramError> {
        let size = self.size;
        if size == 0 || size % self.market.lot_size_wh != 0 {
            return Err(Error::InvalidFillSize.into());
        }
        let bid = Order::load(&accounts[base], program_id)?;
        let ask = Order::load(&accounts[base + 1], program_id)?;
        if &bid.market != self.market_key || &ask.market != self.market_key {
            return Err(Error::WrongMarket.into());
        }
        if bid.side != BID || ask.side != ASK {
            return Err(Error::WrongSide.into());
        }
        if bid.remaining_wh == 0 || ask.remaining_wh == 0 {
            return Err(Error::OrderFilled.into());
        }
        if bid.expired(self.now) || ask.expired(self.now) {
            return Err(Error::OrderExpired.into());
        }
        if bid.owner == ask.owner {
            return Err(Error::SelfTrade.into());
        }
        if size > bid.remaining_wh || size > ask.remaining_wh {
            return Err(Error::FillExceedsRemaining.into());
        }
        let price = match self.pricing {
            Pricing::Maker => {
                if bid.price_per_kwh < ask.price_per_kwh {
                    return Err(Error::PriceOutsideLimits.into());
                }
                if bid.order_id < ask.order_id { bid.price_per_kwh } else { ask.price_per_kwh }
            }
            Pricing::Auction { price, slot_end, .. } => {
                if bid.placed_at >= slot_end || ask.placed_at >= slot_end {
                    return Err(Error::OrderNotInAuctionSlot.into());
                }
                if price > bid.price_per_kwh || price < ask.price_per_kwh {
                    return Err(Error::PriceOutsideLimits.into());
                }
                price
            }
        };
        for k in 0..PER_FILL {
            checks::writable(&accounts[base + k])?;
        }
        let buyer_to = balance::holder(&accounts[base + 2], program_id, self.market_key, &ids::energy_token::GRID_MINT, &bid.owner)?;
        let seller_to = balance::holder(&accounts[base + 3], program_id, self.market_key, &self.market.payment_mint, &ask.owner)?;
        Ok(Checked { bid, ask, price, buyer_to, seller_to })
    }
}

/// Record a fill on an order: what remains to trade and what the vault still holds for it.
#[inline(always)]
fn write_fill(order: &mut AccountView, remaining_wh: u64, escrow_amount: u64) -> ProgramResult {
    let mut d = order.try_borrow_mut()?;
    bytes::write_u64(&mut d, ord::REMAINING_WH, remaining_wh);
    bytes::write_u64(&mut d, ord::ESCROW_AMOUNT, escrow_amount);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{fee_of, BPS};

    /// The u64-only fee equals the exact ceil(value * bps / 10000) for extreme values.
    #[test]
    fn fee_matches_the_wide_ceiling() {
        let values = [0u64, 1, 2, 9_999, 10_000, 10_001, 123_456_789, u64::MAX / BPS, u64::MAX - 1, u64::MAX];
        for &value in &values {
            for bps in [0u64, 1, 25, 9_999, 10_000] {
                let exact = (value as u128 * bps as u128).div_ceil(BPS as u128);
                assert_eq!(fee_of(value, bps) as u128, exact, "{value} at {bps} bps");
                assert!(fee_of(value, bps) <= value);
            }
        }
    }
}
