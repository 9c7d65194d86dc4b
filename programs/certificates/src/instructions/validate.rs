//! `validate`: the issuer, having checked the certificate against the meter data, makes a
//! PENDING certificate VALID (tradeable) — seed 002's `validated_for_trading = true`.

use gtx_common::{bytes, checks, event, sysvar, CommonError, Context};
use pinocchio::ProgramResult;

use super::certificate_state::{config, writable_certificate, PENDING, VALID};
use crate::interface::{
    events::certificate_validated as ev, ix::validate as ixd, state::certificate as crt,
    state::certificates_config as cfg, Error,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let issuer = &accounts[ixd::account::ISSUER];
    checks::signer(issuer)?;
    let issuer_key = *issuer.address();
    let cfg_account = &accounts[ixd::account::CONFIG];
    config(cfg_account, program_id)?;
    // SAFETY: read-only access; no mutable borrow of the config is live.
    if unsafe { cfg_account.borrow_unchecked() }[cfg::ISSUER..cfg::ISSUER + 32] != issuer_key.as_ref()[..] {
        return Err(CommonError::Unauthorized.into());
    }
    let certificate_key = *accounts[ixd::account::CERTIFICATE].address();
    writable_certificate(&accounts[ixd::account::CERTIFICATE], program_id)?;
    let now = sysvar::unix_timestamp()?;

    let mut d = accounts[ixd::account::CERTIFICATE].try_borrow_mut()?;
    if d[crt::STATUS] != PENDING {
        return Err(Error::CertificateNotPending.into());
    }
    if now >= bytes::read_i64(&d, crt::EXPIRES_AT) {
        return Err(Error::CertificateExpired.into());
    }
    d[crt::STATUS] = VALID;
    bytes::write_i64(&mut d, crt::VALIDATED_AT, now);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::CERTIFICATE, certificate_key.as_ref());
    bytes::write(&mut e, ev::ISSUER, issuer_key.as_ref());
    bytes::write_i64(&mut e, ev::VALIDATED_AT, now);
    event::emit(&e);
    Ok(())
}
