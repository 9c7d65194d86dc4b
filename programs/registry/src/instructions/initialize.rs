//! `initialize(oracle_authority)`: create the config PDA `["config"]`.

use gtx_common::{Context, bytes, checks, event, ids, pda::NewAccount, CommonError};
use pinocchio::{cpi::Seed, ProgramResult};

use crate::interface::{
    events::registry_initialized as ev, ix::initialize as ixd, seeds, state::registry_config as cfg,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let authority = &accounts[ixd::account::AUTHORITY];
    let config = &accounts[ixd::account::CONFIG];
    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(config)?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    if config.address().as_ref() != ids::registry::CONFIG {
        return Err(CommonError::InvalidPda.into());
    }
    checks::upgrade_authority(&accounts[ixd::account::PROGRAM_DATA], &ids::registry::PROGRAM_DATA, authority)?;
    let bump = ids::registry::CONFIG_BUMP;
    let bump_seed = [bump];
    NewAccount { payer: authority, target: config, space: cfg::LEN, owner: program_id, seeds: &[Seed::from(seeds::CONFIG), Seed::from(&bump_seed)] }.create()?;

    let authority_key = *authority.address();
    let oracle: [u8; 32] = bytes::array(data, ixd::arg::ORACLE_AUTHORITY);
    {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        bytes::write(&mut d, 0, &cfg::DISCRIMINATOR);
        bytes::write(&mut d, cfg::AUTHORITY, authority_key.as_ref());
        bytes::write(&mut d, cfg::ORACLE_AUTHORITY, &oracle);
        d[cfg::BUMP] = bump;
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::AUTHORITY, authority_key.as_ref());
    bytes::write(&mut e, ev::ORACLE_AUTHORITY, &oracle);
    event::emit(&e);
    Ok(())
}
