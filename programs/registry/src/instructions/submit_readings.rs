//! `submit_readings(production_wh, consumption_wh, reading_at)`: the oracle records a
//! meter's cumulative counters. They may only grow, and time may not go backwards.

use gtx_common::{Context, bytes, checks, event, CommonError};
use pinocchio::ProgramResult;

use super::meter_state::{require_active, writable_meter};
use crate::interface::{
    events::readings_submitted as ev, ix::submit_readings as ixd, state::meter as mtr, state::registry_config as cfg,
    Error,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let oracle = &accounts[ixd::account::ORACLE];
    checks::signer(oracle)?;
    let config = &accounts[ixd::account::CONFIG];
    checks::program_account(config, program_id, &cfg::DISCRIMINATOR, cfg::LEN)?;
    // SAFETY: read-only access; no mutable borrow of the config is live.
    let cfg_data = unsafe { config.borrow_unchecked() };
    if cfg_data[cfg::ORACLE_AUTHORITY..cfg::ORACLE_AUTHORITY + 32] != oracle.address().as_ref()[..] {
        return Err(CommonError::Unauthorized.into());
    }
    writable_meter(&accounts[ixd::account::METER], program_id)?;
    let production = bytes::read_u64(data, ixd::arg::PRODUCTION_WH);
    let consumption = bytes::read_u64(data, ixd::arg::CONSUMPTION_WH);
    let reading_at = bytes::read_i64(data, ixd::arg::READING_AT);

    let mut d = accounts[ixd::account::METER].try_borrow_mut()?;
    require_active(&d)?;
    if production < bytes::read_u64(&d, mtr::TOTAL_PRODUCTION_WH) || consumption < bytes::read_u64(&d, mtr::TOTAL_CONSUMPTION_WH) {
        return Err(Error::CounterDecreased.into());
    }
    if reading_at < bytes::read_i64(&d, mtr::LAST_READING_AT) {
        return Err(Error::StaleReading.into());
    }
    bytes::write_u64(&mut d, mtr::TOTAL_PRODUCTION_WH, production);
    bytes::write_u64(&mut d, mtr::TOTAL_CONSUMPTION_WH, consumption);
    bytes::write_i64(&mut d, mtr::LAST_READING_AT, reading_at);

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::METER_ID, &d[mtr::METER_ID..mtr::METER_ID + 32]);
    bytes::write_u64(&mut e, ev::PRODUCTION_WH, production);
    bytes::write_u64(&mut e, ev::CONSUMPTION_WH, consumption);
    bytes::write_i64(&mut e, ev::READING_AT, reading_at);
    event::emit(&e);
    Ok(())
}
