//! `rotate_meter_key(new_device_key)`: the meter's owner replaces its device key.

use gtx_common::{Context, bytes, checks, event};
use pinocchio::ProgramResult;

use super::meter_state::{require_active, writable_meter};
use crate::interface::{events::meter_key_rotated as ev, ix::rotate_meter_key as ixd, state::meter as mtr, Error};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let owner = &accounts[ixd::account::OWNER];
    checks::signer(owner)?;
    let owner_key = *owner.address();
    writable_meter(&accounts[ixd::account::METER], program_id)?;
    let new_key: [u8; 32] = bytes::array(data, ixd::arg::NEW_DEVICE_KEY);
    let mut d = accounts[ixd::account::METER].try_borrow_mut()?;
    if d[mtr::OWNER..mtr::OWNER + 32] != owner_key.as_ref()[..] {
        return Err(Error::NotMeterOwner.into());
    }
    require_active(&d)?;
    bytes::write(&mut d, mtr::DEVICE_KEY, &new_key);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::METER_ID, &d[mtr::METER_ID..mtr::METER_ID + 32]);
    bytes::write(&mut e, ev::DEVICE_KEY, &new_key);
    event::emit(&e);
    Ok(())
}
