//! `revoke(reason)`: the issuer or the governance authority withdraws a PENDING or VALID
//! certificate (fraud, faulty meter data). REVOKED is terminal, and the revoked Wh stay
//! counted as certified: revoking never frees generation for a second certificate.

use gtx_common::{bytes, checks, event, sysvar, CommonError, Context};
use pinocchio::ProgramResult;

use super::certificate_state::{config, require_open, writable_certificate, REVOKED};
use crate::interface::{
    events::certificate_revoked as ev, ix::revoke as ixd, state::certificate as crt, state::certificates_config as cfg,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let signer = &accounts[ixd::account::SIGNER];
    checks::signer(signer)?;
    let signer_key = *signer.address();
    let cfg_account = &accounts[ixd::account::CONFIG];
    config(cfg_account, program_id)?;
    {
        // SAFETY: read-only access; no mutable borrow of the config is live.
        let c = unsafe { cfg_account.borrow_unchecked() };
        let key = signer_key.as_ref();
        if c[cfg::ISSUER..cfg::ISSUER + 32] != key[..] && c[cfg::AUTHORITY..cfg::AUTHORITY + 32] != key[..] {
            return Err(CommonError::Unauthorized.into());
        }
    }
    let certificate_key = *accounts[ixd::account::CERTIFICATE].address();
    writable_certificate(&accounts[ixd::account::CERTIFICATE], program_id)?;
    let reason = data[ixd::arg::REASON];
    let now = sysvar::unix_timestamp()?;

    let mut d = accounts[ixd::account::CERTIFICATE].try_borrow_mut()?;
    require_open(&d)?;
    d[crt::STATUS] = REVOKED;
    d[crt::REVOKE_REASON] = reason;
    bytes::write_i64(&mut d, crt::CLOSED_AT, now);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::CERTIFICATE, certificate_key.as_ref());
    bytes::write(&mut e, ev::BY, signer_key.as_ref());
    e[ev::REASON] = reason;
    bytes::write_i64(&mut e, ev::REVOKED_AT, now);
    event::emit(&e);
    Ok(())
}
