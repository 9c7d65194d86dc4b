//! `burn(amount_wh)`: the owner burns GRID from their token account.

use gtx_common::{Context, bytes, checks, event, CommonError};
use pinocchio::{AccountView, ProgramResult};
use pinocchio_token::instructions::Burn;

use super::{check_config, check_mint, check_token_program};
use crate::interface::{events::tokens_burned as ev, ix::burn as ixd, state::token_config as cfg, Error};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { accounts, data, .. } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let amount = bytes::read_u64(data, ixd::arg::AMOUNT_WH);
    if amount == 0 {
        return Err(Error::ZeroAmount.into());
    }
    let owner = &accounts[ixd::account::OWNER];
    let source = &accounts[ixd::account::SOURCE];
    let config = &accounts[ixd::account::CONFIG];
    let mint = &accounts[ixd::account::MINT];
    checks::signer(owner)?;
    checks::writable(source)?;
    checks::writable(config)?;
    checks::writable(mint)?;
    check_config(config)?;
    check_mint(mint)?;
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    Burn { account: source, mint, authority: owner, multisig_signers: &[] as &[&AccountView], amount }.invoke()?;

    let source_key = *source.address();
    let total = {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        let total = bytes::read_u64(&d, cfg::TOTAL_BURNED_WH).checked_add(amount).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, cfg::TOTAL_BURNED_WH, total);
        total
    };
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::SOURCE, source_key.as_ref());
    bytes::write_u64(&mut e, ev::AMOUNT_WH, amount);
    bytes::write_u64(&mut e, ev::TOTAL_BURNED_WH, total);
    event::emit(&e);
    Ok(())
}
