//! `initialize(oracle_authority)`: create the config PDA `["config"]`.

use gtx_common::{bytes, checks, event, pda::{self, NewAccount}};
use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use crate::interface::{
    events::registry_initialized as ev, ix::initialize as ixd, seeds, state::registry_config as cfg,
};

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let authority = &accounts[ixd::account::AUTHORITY];
    let config = &accounts[ixd::account::CONFIG];
    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(config)?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    let bump = pda::canonical(config, &[seeds::CONFIG], program_id)?;
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
