//! `mint_from_production(amounts_wh)`: mint GRID to each destination, signed for by the
//! mint-authority PDA. Only the registry's `["minter"]` PDA may sign this instruction.

use gtx_common::{Context, bytes, checks, event, ids, CommonError};
use pinocchio::{
    cpi::{Seed, Signer},
    AccountView, ProgramResult,
};
use pinocchio_token::instructions::MintTo;

use super::{check_config, check_mint, check_token_program};
use crate::interface::{events::tokens_minted as ev, ix::mint_from_production as ixd, seeds, state::token_config as cfg, Error};

/// Destinations per call; bounded so a batch fits the compute budget.
pub const MAX_BATCH: usize = 16;

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { accounts, data, .. } = ctx;
    if data.len() < ixd::arg::MIN_LEN {
        return Err(CommonError::InvalidInstructionData.into());
    }
    let count = bytes::read_u32(data, ixd::arg::AMOUNTS_WH) as usize;
    if count == 0 || count > MAX_BATCH || data.len() != ixd::arg::MIN_LEN + 8 * count {
        return Err(Error::InvalidBatch.into());
    }
    if accounts.len() != ixd::ACCOUNTS + count {
        return Err(Error::InvalidBatch.into());
    }
    let minter = &accounts[ixd::account::REGISTRY_MINTER];
    if !minter.is_signer() || minter.address().as_ref() != ids::registry::MINTER {
        return Err(Error::UnauthorizedMinter.into());
    }
    let config = &accounts[ixd::account::CONFIG];
    checks::writable(config)?;
    check_config(config)?;
    let mint = &accounts[ixd::account::MINT];
    checks::writable(mint)?;
    check_mint(mint)?;
    let authority = &accounts[ixd::account::MINT_AUTHORITY];
    if authority.address().as_ref() != ids::energy_token::MINT_AUTHORITY {
        return Err(Error::InvalidMint.into());
    }
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;

    let bump = [ids::energy_token::MINT_AUTHORITY_BUMP];
    let signer_seeds = [Seed::from(seeds::MINT_AUTHORITY), Seed::from(&bump)];
    let signer = [Signer::from(&signer_seeds)];
    // SAFETY: read-only peek at the running total; no mutable borrow of config is live.
    let mut total = bytes::read_u64(unsafe { config.borrow_unchecked() }, cfg::TOTAL_MINTED_WH);
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    for i in 0..count {
        let amount = bytes::read_u64(data, ixd::arg::MIN_LEN + 8 * i);
        if amount == 0 {
            return Err(Error::ZeroAmount.into());
        }
        let destination = &accounts[ixd::ACCOUNTS + i];
        MintTo { mint, account: destination, mint_authority: authority, multisig_signers: &[] as &[&AccountView], amount }
            .invoke_signed(&signer)?;
        total = total.checked_add(amount).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write(&mut e, ev::DESTINATION, destination.address().as_ref());
        bytes::write_u64(&mut e, ev::AMOUNT_WH, amount);
        bytes::write_u64(&mut e, ev::TOTAL_MINTED_WH, total);
        event::emit(&e);
    }
    let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
    bytes::write_u64(&mut d, cfg::TOTAL_MINTED_WH, total);
    Ok(())
}
