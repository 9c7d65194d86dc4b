//! `place_order(side, price_per_kwh, size_wh, expires_at, order_bump)`: escrow what the
//! order offers and record it in the PDA `["order", market, order_id, order_bump]`.
//!
//! The escrow comes from the owner's token account (a token transfer into the vault) or
//! from the owner's balance account in this market (a debit, no transfer). The order's
//! address is checked with the client's bump (one derivation) rather than by searching
//! for the canonical bump, whose cost varied with the address (1,500 CU per bump tried).
//! Order ids are never reused, so a bump other than the canonical one cannot make a
//! second account for an id; `OrderPlaced` names the address either way.

use gtx_common::{bytes, checks, event, ids, math, pda::{self, NewAccount}, sysvar, CommonError, Context};
use pinocchio::{cpi::Seed, ProgramResult};
use pinocchio_token::instructions::Transfer;

use super::{
    balance::{self, Asset, Holder},
    check_token_program,
    market::Market,
    order::value_of,
    ASK, BID,
};
use crate::interface::{events::order_placed as ev, ix::place_order as ixd, seeds, state::market as mkt, state::order as ord, Error};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let side = data[ixd::arg::SIDE];
    let price = bytes::read_u64(data, ixd::arg::PRICE_PER_KWH);
    let size = bytes::read_u64(data, ixd::arg::SIZE_WH);
    let expires_at = bytes::read_i64(data, ixd::arg::EXPIRES_AT);
    let order_bump = data[ixd::arg::ORDER_BUMP];
    if side != BID && side != ASK {
        return Err(Error::InvalidSide.into());
    }

    let owner = &accounts[ixd::account::OWNER];
    let market_account = &accounts[ixd::account::MARKET];
    let order = &accounts[ixd::account::ORDER];
    let source = &accounts[ixd::account::SOURCE];
    let vault = &accounts[ixd::account::VAULT];
    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(market_account)?;
    checks::writable(order)?;
    checks::writable(source)?;
    checks::writable(vault)?;
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    let market = Market::load(market_account, program_id)?;
    if price == 0 || price % market.tick_size != 0 {
        return Err(Error::InvalidPrice.into());
    }
    if size == 0 || size % market.lot_size_wh != 0 {
        return Err(Error::InvalidSize.into());
    }
    let now = sysvar::unix_timestamp()?;
    if expires_at != 0 && expires_at <= now {
        return Err(Error::InvalidExpiry.into());
    }
    if vault.address().as_array() != market.vault_for(side) {
        return Err(Error::InvalidVault.into());
    }
    let owner_key = owner.address().to_bytes();
    let market_key = market_account.address().to_bytes();
    let mint: &[u8; 32] = if side == ASK { &ids::energy_token::GRID_MINT } else { &market.payment_mint };
    let from = balance::holder(source, program_id, &market_key, mint, &owner_key)?;
    // Asks escrow the energy itself; bids the most they could pay, price * size / 1000.
    let escrow = if side == ASK { size } else { value_of(price, size)? };
    // Reject sizes whose value at the limit cannot be represented, for asks too, so every
    // fill's value is computable.
    math::mul(price, size).ok_or(CommonError::ArithmeticOverflow)?;

    // SAFETY: read-only peek at the order counter; no mutable borrow of the market is live.
    let order_id = bytes::read_u64(unsafe { market_account.borrow_unchecked() }, mkt::NEXT_ORDER_ID);
    let id_seed = order_id.to_le_bytes();
    let order_key = order.address().to_bytes();
    let bump_seed = [order_bump];
    pda::with_bump(order, &[seeds::ORDER, &market_key, &id_seed, &bump_seed], program_id)?;
    NewAccount { payer: owner, target: order, space: ord::LEN, owner: program_id,
                 seeds: &[Seed::from(seeds::ORDER), Seed::from(&market_key), Seed::from(&id_seed), Seed::from(&bump_seed)] }
        .create()?;
    match from {
        Holder::Token => Transfer::new(source, vault, owner, escrow).invoke()?,
        Holder::Balance => {
            balance::debit(*source, if side == ASK { Asset::Grid } else { Asset::Payment }, escrow)?;
        }
    }

    {
        let mut d = accounts[ixd::account::ORDER].try_borrow_mut()?;
        bytes::write(&mut d, 0, &ord::DISCRIMINATOR);
        bytes::write(&mut d, ord::MARKET, &market_key);
        bytes::write(&mut d, ord::OWNER, &owner_key);
        bytes::write_u64(&mut d, ord::ORDER_ID, order_id);
        d[ord::SIDE] = side;
        bytes::write_u64(&mut d, ord::PRICE_PER_KWH, price);
        bytes::write_u64(&mut d, ord::SIZE_WH, size);
        bytes::write_u64(&mut d, ord::REMAINING_WH, size);
        bytes::write_u64(&mut d, ord::ESCROW_AMOUNT, escrow);
        bytes::write_i64(&mut d, ord::PLACED_AT, now);
        bytes::write_i64(&mut d, ord::EXPIRES_AT, expires_at);
    }
    {
        let mut d = accounts[ixd::account::MARKET].try_borrow_mut()?;
        let next = order_id.checked_add(1).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, mkt::NEXT_ORDER_ID, next);
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::MARKET, &market_key);
    bytes::write_u64(&mut e, ev::ORDER_ID, order_id);
    bytes::write(&mut e, ev::ORDER, &order_key);
    bytes::write(&mut e, ev::OWNER, &owner_key);
    e[ev::SIDE] = side;
    bytes::write_u64(&mut e, ev::PRICE_PER_KWH, price);
    bytes::write_u64(&mut e, ev::SIZE_WH, size);
    bytes::write_u64(&mut e, ev::ESCROW_AMOUNT, escrow);
    bytes::write_i64(&mut e, ev::PLACED_AT, now);
    bytes::write_i64(&mut e, ev::EXPIRES_AT, expires_at);
    event::emit(&e);
    Ok(())
}
