//! `transfer(new_owner)`: the holder of a VALID certificate hands it to a buyer.

use gtx_common::{bytes, checks, event, sysvar, Context};
use pinocchio::ProgramResult;

use super::certificate_state::{require_tradeable, writable_certificate};
use crate::interface::{events::certificate_transferred as ev, ix::transfer as ixd, state::certificate as crt, Error};

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
    let new_owner: [u8; 32] = bytes::array(data, ixd::arg::NEW_OWNER);
    let now = sysvar::unix_timestamp()?;

    let mut d = accounts[ixd::account::CERTIFICATE].try_borrow_mut()?;
    require_tradeable(&d, &owner_key, now)?;
    if new_owner == [0u8; 32] || new_owner[..] == owner_key.as_ref()[..] {
        return Err(Error::InvalidNewOwner.into());
    }
    bytes::write(&mut d, crt::OWNER, &new_owner);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::CERTIFICATE, certificate_key.as_ref());
    bytes::write(&mut e, ev::FROM, owner_key.as_ref());
    bytes::write(&mut e, ev::TO, &new_owner);
    bytes::write(&mut e, ev::ENERGY_WH, &d[crt::ENERGY_WH..crt::ENERGY_WH + 8]);
    event::emit(&e);
    Ok(())
}
