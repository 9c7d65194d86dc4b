//! `deactivate_meter`: the meter's owner or the registry authority stops a meter.

use gtx_common::{Context, bytes, checks, event, CommonError};
use pinocchio::ProgramResult;

use super::meter_state::{require_active, writable_meter, METER_INACTIVE};
use crate::interface::{
    events::meter_deactivated as ev, ix::deactivate_meter as ixd, state::meter as mtr, state::registry_config as cfg,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let signer = &accounts[ixd::account::SIGNER];
    checks::signer(signer)?;
    let signer_key = *signer.address();
    let config = &accounts[ixd::account::CONFIG];
    checks::program_account(config, program_id, &cfg::DISCRIMINATOR, cfg::LEN)?;
    // SAFETY: read-only access; no mutable borrow of the config is live.
    let is_authority = unsafe { config.borrow_unchecked() }[cfg::AUTHORITY..cfg::AUTHORITY + 32] == signer_key.as_ref()[..];
    writable_meter(&accounts[ixd::account::METER], program_id)?;
    let mut d = accounts[ixd::account::METER].try_borrow_mut()?;
    let is_owner = d[mtr::OWNER..mtr::OWNER + 32] == signer_key.as_ref()[..];
    if !is_owner && !is_authority {
        return Err(CommonError::Unauthorized.into());
    }
    require_active(&d)?;
    d[mtr::STATUS] = METER_INACTIVE;

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::METER_ID, &d[mtr::METER_ID..mtr::METER_ID + 32]);
    bytes::write(&mut e, ev::BY, signer_key.as_ref());
    event::emit(&e);
    Ok(())
}
