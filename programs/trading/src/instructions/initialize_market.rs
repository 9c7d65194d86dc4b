//! `initialize_market`: create a GRID / payment-token market and its two vaults.

use gtx_common::{bytes, checks, event, ids, pda::{self, NewAccount}, token::{self, TOKEN_PROGRAM_ID}, Context};
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};
use pinocchio_token::instructions::InitializeAccount3;

use super::check_token_program;
use crate::interface::{events::market_initialized as ev, ix::initialize_market as ixd, seeds, state::market as mkt, Error};

/// Size of an SPL Token mint account; `is_initialized` is byte 45.
const MINT_LEN: usize = 82;
const MINT_INITIALIZED: usize = 45;
/// Fees are a share of the seller's proceeds: at most all of them.
const MAX_FEE_BPS: u16 = 10_000;

fn check_payment_mint(mint: &AccountView) -> Result<(), ProgramError> {
    if !mint.owned_by(&TOKEN_PROGRAM_ID) {
        return Err(Error::InvalidMint.into());
    }
    // SAFETY: read-only peek at the mint; no mutable borrow of it is live.
    let d = unsafe { mint.borrow_unchecked() };
    if d.len() != MINT_LEN || d[MINT_INITIALIZED] != 1 || mint.address().as_array() == &ids::energy_token::GRID_MINT {
        return Err(Error::InvalidMint.into());
    }
    Ok(())
}

/// Lot and tick must make every fill value `price * size / 1000` an exact integer.
fn check_params(fee_bps: u16, lot_size_wh: u64, tick_size: u64) -> Result<(), ProgramError> {
    let product = gtx_common::math::mul(lot_size_wh, tick_size);
    match product {
        Some(p) if lot_size_wh > 0 && tick_size > 0 && p % 1000 == 0 && fee_bps <= MAX_FEE_BPS => Ok(()),
        _ => Err(Error::InvalidMarketParams.into()),
    }
}

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let fee_bps = u16::from_le_bytes(bytes::array(data, ixd::arg::FEE_BPS));
    let lot_size_wh = bytes::read_u64(data, ixd::arg::LOT_SIZE_WH);
    let tick_size = bytes::read_u64(data, ixd::arg::TICK_SIZE);
    let slot_secs: [u8; 4] = bytes::array(data, ixd::arg::AUCTION_SLOT_SECS);
    check_params(fee_bps, lot_size_wh, tick_size)?;

    let authority = &accounts[ixd::account::AUTHORITY];
    let market = &accounts[ixd::account::MARKET];
    let grid_mint = &accounts[ixd::account::GRID_MINT];
    let payment_mint = &accounts[ixd::account::PAYMENT_MINT];
    let grid_vault = &accounts[ixd::account::GRID_VAULT];
    let payment_vault = &accounts[ixd::account::PAYMENT_VAULT];
    let fee_account = &accounts[ixd::account::FEE_ACCOUNT];
    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(market)?;
    checks::writable(grid_vault)?;
    checks::writable(payment_vault)?;
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    if grid_mint.address().as_array() != &ids::energy_token::GRID_MINT {
        return Err(Error::InvalidMint.into());
    }
    check_payment_mint(payment_mint)?;
    let payment_mint_key = payment_mint.address().to_bytes();
    if !fee_account.owned_by(&TOKEN_PROGRAM_ID) || {
        // SAFETY: read-only peek at the fee account's mint; no mutable borrow is live.
        let d = unsafe { fee_account.borrow_unchecked() };
        d.len() != token::ACCOUNT_LEN || d[0..32] != payment_mint_key
    } {
        return Err(Error::InvalidFeeAccount.into());
    }

    let authority_key = authority.address().to_bytes();
    let bump = pda::canonical(market, &[seeds::MARKET, &authority_key, &payment_mint_key, &slot_secs], program_id)?;
    let market_key = market.address().to_bytes();
    let grid_bump = pda::canonical(grid_vault, &[seeds::GRID_VAULT, &market_key], program_id)?;
    let payment_bump = pda::canonical(payment_vault, &[seeds::PAYMENT_VAULT, &market_key], program_id)?;

    let bump_seed = [bump];
    NewAccount { payer: authority, target: market, space: mkt::LEN, owner: program_id,
                 seeds: &[Seed::from(seeds::MARKET), Seed::from(&authority_key), Seed::from(&payment_mint_key),
                          Seed::from(&slot_secs), Seed::from(&bump_seed)] }.create()?;
    let market_address = Address::new_from_array(market_key);
    for (vault, mint, seed, vault_bump) in [
        (grid_vault, grid_mint, seeds::GRID_VAULT, grid_bump),
        (payment_vault, payment_mint, seeds::PAYMENT_VAULT, payment_bump),
    ] {
        let b = [vault_bump];
        NewAccount { payer: authority, target: vault, space: token::ACCOUNT_LEN, owner: &TOKEN_PROGRAM_ID,
                     seeds: &[Seed::from(seed), Seed::from(&market_key), Seed::from(&b)] }.create()?;
        InitializeAccount3 { account: vault, mint, owner: &market_address }.invoke()?;
    }

    let matcher: [u8; 32] = bytes::array(data, ixd::arg::MATCHER);
    let grid_vault_key = grid_vault.address().to_bytes();
    let payment_vault_key = payment_vault.address().to_bytes();
    let fee_key = fee_account.address().to_bytes();
    {
        let mut d = accounts[ixd::account::MARKET].try_borrow_mut()?;
        bytes::write(&mut d, 0, &mkt::DISCRIMINATOR);
        bytes::write(&mut d, mkt::AUTHORITY, &authority_key);
        bytes::write(&mut d, mkt::MATCHER, &matcher);
        bytes::write(&mut d, mkt::PAYMENT_MINT, &payment_mint_key);
        bytes::write(&mut d, mkt::GRID_VAULT, &grid_vault_key);
        bytes::write(&mut d, mkt::PAYMENT_VAULT, &payment_vault_key);
        bytes::write(&mut d, mkt::FEE_ACCOUNT, &fee_key);
        bytes::write(&mut d, mkt::FEE_BPS, &fee_bps.to_le_bytes());
        bytes::write_u64(&mut d, mkt::LOT_SIZE_WH, lot_size_wh);
        bytes::write_u64(&mut d, mkt::TICK_SIZE, tick_size);
        bytes::write(&mut d, mkt::AUCTION_SLOT_SECS, &slot_secs);
        d[mkt::BUMP] = bump;
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::MARKET, &market_key);
    bytes::write(&mut e, ev::AUTHORITY, &authority_key);
    bytes::write(&mut e, ev::MATCHER, &matcher);
    bytes::write(&mut e, ev::PAYMENT_MINT, &payment_mint_key);
    bytes::write(&mut e, ev::FEE_BPS, &fee_bps.to_le_bytes());
    bytes::write_u64(&mut e, ev::LOT_SIZE_WH, lot_size_wh);
    bytes::write_u64(&mut e, ev::TICK_SIZE, tick_size);
    bytes::write(&mut e, ev::AUCTION_SLOT_SECS, &slot_secs);
    event::emit(&e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_params;

    #[test]
    fn every_value_is_exact_only_when_tick_times_lot_is_a_multiple_of_1000() {
        assert!(check_params(25, 1, 1_000).is_ok());
        assert!(check_params(10_000, 100, 10).is_ok());
        assert!(check_params(0, 1_000, 1).is_ok());
        for (fee, lot, tick) in [(0, 0, 1_000), (0, 1, 0), (0, 3, 7), (0, 10, 50), (10_001, 1, 1_000), (0, u64::MAX, 1_000)] {
            assert!(check_params(fee, lot, tick).is_err(), "{fee} {lot} {tick}");
        }
    }
}
