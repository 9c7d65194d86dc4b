//! `initialize(issuer, validity_secs)`: create the config PDA `["config"]`; the signer
//! becomes the governance authority.

use gtx_common::{bytes, checks, event, ids, pda::NewAccount, CommonError, Context};
use pinocchio::{cpi::Seed, ProgramResult};

use crate::interface::{
    events::certificates_configured as ev, ix::initialize as ixd, seeds, state::certificates_config as cfg, Error,
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
    if config.address().as_ref() != ids::certificates::CONFIG {
        return Err(CommonError::InvalidPda.into());
    }
    checks::upgrade_authority(&accounts[ixd::account::PROGRAM_DATA], &ids::certificates::PROGRAM_DATA, authority)?;
    let issuer: [u8; 32] = bytes::array(data, ixd::arg::ISSUER);
    let validity_secs = bytes::read_i64(data, ixd::arg::VALIDITY_SECS);
    if validity_secs <= 0 {
        return Err(Error::InvalidValidityPeriod.into());
    }
    let bump_seed = [ids::certificates::CONFIG_BUMP];
    NewAccount { payer: authority, target: config, space: cfg::LEN, owner: program_id, seeds: &[Seed::from(seeds::CONFIG), Seed::from(&bump_seed)] }.create()?;

    let authority_key = *authority.address();
    {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        bytes::write(&mut d, 0, &cfg::DISCRIMINATOR);
        bytes::write(&mut d, cfg::AUTHORITY, authority_key.as_ref());
        bytes::write(&mut d, cfg::ISSUER, &issuer);
        bytes::write_i64(&mut d, cfg::VALIDITY_SECS, validity_secs);
        d[cfg::BUMP] = ids::certificates::CONFIG_BUMP;
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::AUTHORITY, authority_key.as_ref());
    bytes::write(&mut e, ev::ISSUER, &issuer);
    bytes::write_i64(&mut e, ev::VALIDITY_SECS, validity_secs);
    event::emit(&e);
    Ok(())
}
