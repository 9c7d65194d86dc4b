//! `expire`: anyone marks a PENDING or VALID certificate past its `expires_at` as EXPIRED
//! (terminal), so indexers and markets see the lapse as an on-chain state change.

use gtx_common::{bytes, checks, event, sysvar, Context};
use pinocchio::ProgramResult;

use super::certificate_state::{require_open, writable_certificate, EXPIRED};
use crate::interface::{events::certificate_expired as ev, ix::expire as ixd, state::certificate as crt, Error};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let certificate_key = *accounts[ixd::account::CERTIFICATE].address();
    writable_certificate(&accounts[ixd::account::CERTIFICATE], program_id)?;
    let now = sysvar::unix_timestamp()?;

    let mut d = accounts[ixd::account::CERTIFICATE].try_borrow_mut()?;
    require_open(&d)?;
    if now < bytes::read_i64(&d, crt::EXPIRES_AT) {
        return Err(Error::CertificateNotExpired.into());
    }
    d[crt::STATUS] = EXPIRED;
    bytes::write_i64(&mut d, crt::CLOSED_AT, now);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::CERTIFICATE, certificate_key.as_ref());
    bytes::write_i64(&mut e, ev::EXPIRED_AT, now);
    event::emit(&e);
    Ok(())
}
