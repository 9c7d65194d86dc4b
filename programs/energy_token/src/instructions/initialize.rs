//! `initialize`: create the token config PDA and the GRID mint PDA.

use gtx_common::{Context, bytes, checks, event, ids::energy_token as me, ids::registry, pda::NewAccount, token::TOKEN_PROGRAM_ID, CommonError};
use pinocchio::{cpi::Seed, Address, ProgramResult};
use pinocchio_token::instructions::InitializeMint2;

use super::{check_mint, check_token_program};
use crate::{
    interface::{events::token_initialized as ev, ix::initialize as ixd, seeds, state::token_config as cfg, Error},
    DECIMALS,
};

/// Size of an SPL Token mint account.
const MINT_LEN: usize = 82;

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let authority = &accounts[ixd::account::AUTHORITY];
    let config = &accounts[ixd::account::CONFIG];
    let mint = &accounts[ixd::account::MINT];
    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(config)?;
    checks::writable(mint)?;
    if config.address().as_ref() != me::CONFIG {
        return Err(CommonError::InvalidPda.into());
    }
    check_mint(mint)?;
    if accounts[ixd::account::MINT_AUTHORITY].address().as_ref() != me::MINT_AUTHORITY {
        return Err(Error::InvalidMint.into());
    }
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    checks::upgrade_authority(&accounts[ixd::account::PROGRAM_DATA], &me::PROGRAM_DATA, authority)?;

    let config_bump = [me::CONFIG_BUMP];
    NewAccount { payer: authority, target: config, space: cfg::LEN, owner: program_id,
                 seeds: &[Seed::from(seeds::CONFIG), Seed::from(&config_bump)] }.create()?;
    let mint_bump = [me::GRID_MINT_BUMP];
    NewAccount { payer: authority, target: mint, space: MINT_LEN, owner: &TOKEN_PROGRAM_ID,
                 seeds: &[Seed::from(seeds::GRID_MINT), Seed::from(&mint_bump)] }.create()?;
    let mint_authority = Address::new_from_array(me::MINT_AUTHORITY);
    InitializeMint2 { mint, decimals: DECIMALS, mint_authority: &mint_authority, freeze_authority: None }.invoke()?;

    let authority_key = *authority.address();
    {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        bytes::write(&mut d, 0, &cfg::DISCRIMINATOR);
        bytes::write(&mut d, cfg::AUTHORITY, authority_key.as_ref());
        bytes::write(&mut d, cfg::MINT, &me::GRID_MINT);
        bytes::write(&mut d, cfg::REGISTRY_MINTER, &registry::MINTER);
        d[cfg::DECIMALS] = DECIMALS;
    }
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::MINT, &me::GRID_MINT);
    e[ev::DECIMALS] = DECIMALS;
    event::emit(&e);
    Ok(())
}
