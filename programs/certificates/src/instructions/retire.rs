//! `retire`: the holder claims the certificate's green attribute. RETIRED is terminal:
//! a claimed certificate can never be traded or claimed again.

use gtx_common::{bytes, checks, event, sysvar, Context};
use pinocchio::ProgramResult;

use super::certificate_state::{require_tradeable, writable_certificate, RETIRED};
use crate::interface::{events::certificate_retired as ev, ix::retire as ixd, state::certificate as crt};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let owner = &accounts[ixd::account::OWNER];
    checks::signer(owner)?;
    let owner_key = *owner.address();
    let certificate_key = *accounts[ixd::account::CERTIFICATE].address();
    writable_certificate(&accounts[ixd::account::CERTIFICATE], program_id)?;
    let now = sysvar::unix_timestamp()?;

    let mut d = accounts[ixd::account::CERTIFICATE].try_borrow_mut()?;
    require_tradeable(&d, &owner_key, now)?;
    d[crt::STATUS] = RETIRED;
    bytes::write_i64(&mut d, crt::CLOSED_AT, now);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::CERTIFICATE, certificate_key.as_ref());
    bytes::write(&mut e, ev::OWNER, owner_key.as_ref());
    bytes::write(&mut e, ev::ENERGY_WH, &d[crt::ENERGY_WH..crt::ENERGY_WH + 8]);
    bytes::write_i64(&mut e, ev::RETIRED_AT, now);
    event::emit(&e);
    Ok(())
}
