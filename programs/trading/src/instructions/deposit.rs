//! `deposit(amount)`: move tokens from the owner's token account into the market's vault
//! of that mint and credit them to the owner's balance account, created on first use.

use gtx_common::{bytes, checks, pda::{self, NewAccount}, Context};
use pinocchio::{cpi::Seed, ProgramResult};
use pinocchio_token::instructions::Transfer;

use super::{
    balance,
    check_token_program,
    market::Market,
};
use crate::interface::{ix::deposit as ixd, seeds, state::balance as bal, Error};

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
    let source = &accounts[ixd::account::SOURCE];
    let vault = &accounts[ixd::account::VAULT];
    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(balance_account)?;
    checks::writable(source)?;
    checks::writable(vault)?;
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    let market = Market::load(market_account, program_id)?;
    let owner_key = owner.address().to_bytes();
    let (asset, mint) = market.asset_of(source, &owner_key)?;
    if vault.address().as_array() != market.vault_of(asset) {
        return Err(Error::InvalidVault.into());
    }
    let market_key = market_account.address().to_bytes();
    if balance_account.owned_by(program_id) {
        if !balance::is_balance_of(balance_account, program_id, &market_key, &owner_key) {
            return Err(Error::InvalidTokenAccount.into());
        }
    } else {
        // First deposit: the canonical address, so every client finds the same account.
        let bump = pda::canonical(balance_account, &[seeds::BALANCE, &market_key, &owner_key], program_id)?;
        let bump_seed = [bump];
        NewAccount { payer: owner, target: balance_account, space: bal::LEN, owner: program_id,
                     seeds: &[Seed::from(seeds::BALANCE), Seed::from(&market_key), Seed::from(&owner_key),
                              Seed::from(&bump_seed)] }
            .create()?;
        balance::init(*balance_account, &market_key, &owner_key)?;
    }
    Transfer::new(source, vault, owner, amount).invoke()?;
    let now = balance::credit(*balance_account, asset, amount)?;
    balance::emit_change(&market_key, &owner_key, &mint, amount, 0, now);
    Ok(())
}
