//! `withdraw(amount)`: the owner takes funds out of the balance account, from the market's
//! vault of that mint to the owner's token account.

use gtx_common::{bytes, checks, Context};
use pinocchio::ProgramResult;
use pinocchio_token::instructions::Transfer;

use super::{balance, check_token_program, market::Market};
use crate::interface::{ix::withdraw as ixd, Error};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let amount = bytes::read_u64(data, ixd::arg::AMOUNT);
    if amount == 0 {
        return Err(Error::InvalidAmount.into());
    }
    let owner = &accounts[ixd::account::OWNER];
    let market_account = &accounts[ixd::account::MARKET];
    let balance_account = &accounts[ixd::account::BALANCE];
    let destination = &accounts[ixd::account::DESTINATION];
    let vault = &accounts[ixd::account::VAULT];
    checks::signer(owner)?;
    checks::writable(balance_account)?;
    checks::writable(destination)?;
    checks::writable(vault)?;
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    let market = Market::load(market_account, program_id)?;
    let owner_key = owner.address().to_bytes();
    let market_key = market_account.address().to_bytes();
    if !balance::is_balance_of(balance_account, program_id, &market_key, &owner_key) {
        return Err(Error::InvalidTokenAccount.into());
    }
    let (asset, mint) = market.asset_of(destination, &owner_key)?;
    if vault.address().as_array() != market.vault_of(asset) {
        return Err(Error::InvalidVault.into());
    }
    let now = balance::debit(*balance_account, asset, amount)?;
    market.signed(|signer| Transfer::new(vault, destination, market_account, amount).invoke_signed(signer))?;
    balance::emit_change(&market_key, &owner_key, &mint, 0, amount, now);
    Ok(())
}
