//! `claim_production`: mint a user's unclaimed settled production to the wallet's GRID
//! token account in one MintTo, and zero `User.unclaimed_wh`.
//!
//! `settle_and_mint` credits `unclaimed_wh` when a meter's destination is its owner's
//! `User` account; the sum of `unclaimed_wh` and the GRID minted through the registry is
//! always the production settled, so nothing is minted twice. Anyone may call it: the
//! GRID only goes to the wallet's own token account. Nothing to claim is a no-op.

use gtx_common::{Context, bytes, checks, event, ids, token};
use pinocchio::ProgramResult;

use super::mint_cpi::{self, MintAccounts, MintBatch, MAX_DESTINATIONS};
use crate::interface::{events::production_claimed as ev, ix::claim_production as ixd, state::user as usr, Error};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    mint_cpi::check(&accounts[ixd::account::REGISTRY_MINTER], &accounts[ixd::account::ENERGY_TOKEN_PROGRAM])?;
    checks::writable(&accounts[ixd::account::USER])?;
    checks::writable(&accounts[ixd::account::DESTINATION])?;
    if !accounts[ixd::account::USER].owned_by(program_id) {
        return Err(Error::UserNotRegistered.into());
    }
    let (wallet, amount) = {
        let mut d = accounts[ixd::account::USER].try_borrow_mut()?;
        let mut user = usr::ViewMut::new(&mut d).ok_or(Error::UserNotRegistered)?;
        let amount = user.unclaimed_wh();
        user.set_unclaimed_wh(0);
        (*user.wallet(), amount)
    };
    let accounts = &*accounts;
    let destination = &accounts[ixd::account::DESTINATION];
    if token::account_of(destination, &ids::energy_token::GRID_MINT, &wallet).is_err() {
        return Err(Error::InvalidTokenAccount.into());
    }
    let cpi = MintAccounts {
        registry_minter: &accounts[ixd::account::REGISTRY_MINTER],
        token_config: &accounts[ixd::account::TOKEN_CONFIG],
        mint: &accounts[ixd::account::MINT],
        mint_authority: &accounts[ixd::account::MINT_AUTHORITY],
        token_program: &accounts[ixd::account::TOKEN_PROGRAM],
        energy_token_program: &accounts[ixd::account::ENERGY_TOKEN_PROGRAM],
    };
    if amount == 0 {
        return Ok(());
    }
    let mut batch = MintBatch { amounts: [0u64; MAX_DESTINATIONS], destinations: [0usize; MAX_DESTINATIONS], count: 1 };
    batch.amounts[0] = amount;
    batch.destinations[0] = ixd::account::DESTINATION;
    cpi.mint(accounts, &batch)?;
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::WALLET, &wallet);
    bytes::write_u64(&mut e, ev::MINTED_WH, amount);
    event::emit(&e);
    Ok(())
}
