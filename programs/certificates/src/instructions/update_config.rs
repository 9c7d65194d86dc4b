//! `update_config(issuer, validity_secs)`: the governance authority rotates the issuer key
//! or changes the validity period. Certificates already issued keep their `expires_at`.

use gtx_common::{bytes, checks, event, CommonError, Context};
use pinocchio::ProgramResult;

use super::certificate_state::config;
use crate::interface::{
    events::certificates_configured as ev, ix::update_config as ixd, state::certificates_config as cfg, Error,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let authority = &accounts[ixd::account::AUTHORITY];
    checks::signer(authority)?;
    let authority_key = *authority.address();
    checks::writable(&accounts[ixd::account::CONFIG])?;
    config(&accounts[ixd::account::CONFIG], program_id)?;
    let issuer: [u8; 32] = bytes::array(data, ixd::arg::ISSUER);
    let validity_secs = bytes::read_i64(data, ixd::arg::VALIDITY_SECS);

    let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
    if d[cfg::AUTHORITY..cfg::AUTHORITY + 32] != authority_key.as_ref()[..] {
        return Err(CommonError::Unauthorized.into());
    }
    if validity_secs <= 0 {
        return Err(Error::InvalidValidityPeriod.into());
    }
    bytes::write(&mut d, cfg::ISSUER, &issuer);
    bytes::write_i64(&mut d, cfg::VALIDITY_SECS, validity_secs);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::AUTHORITY, authority_key.as_ref());
    bytes::write(&mut e, ev::ISSUER, &issuer);
    bytes::write_i64(&mut e, ev::VALIDITY_SECS, validity_secs);
    event::emit(&e);
    Ok(())
}
