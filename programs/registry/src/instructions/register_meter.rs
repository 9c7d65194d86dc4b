//! `register_meter(meter_id, device_key, location)`: create the meter PDA
//! `["meter", meter_id]` owned by a registered prosumer, holding the device's Ed25519 key.
//! Consumers own no minting meter: GRID is minted for exported energy only.

use gtx_common::{Context, bytes, checks, event, pda::{self, NewAccount}, sysvar, CommonError};
use pinocchio::{cpi::Seed, ProgramResult};

use super::meter_state::METER_ACTIVE;
use super::register_user::PROSUMER;
use crate::interface::{
    events::meter_registered as ev, ix::register_meter as ixd, seeds, state::meter as mtr,
    state::registry_config as cfg, state::user as usr, Error,
};


/// 1-32 bytes of printable ASCII, then zero padding only.
fn valid_meter_id(id: &[u8; 32]) -> bool {
    let len = id.iter().position(|&b| b == 0).unwrap_or(32);
    len > 0 && id[..len].iter().all(|&b| (0x21..=0x7e).contains(&b)) && id[len..].iter().all(|&b| b == 0)
}

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let meter_id: [u8; 32] = bytes::array(data, ixd::arg::METER_ID);
    if !valid_meter_id(&meter_id) {
        return Err(Error::InvalidMeterId.into());
    }
    let owner = &accounts[ixd::account::OWNER];
    let config = &accounts[ixd::account::CONFIG];
    let user = &accounts[ixd::account::USER];
    let meter = &accounts[ixd::account::METER];
    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(config)?;
    checks::writable(user)?;
    checks::writable(meter)?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    checks::program_account(config, program_id, &cfg::DISCRIMINATOR, cfg::LEN)?;
    let owner_key = *owner.address();
    if checks::program_account(user, program_id, &usr::DISCRIMINATOR, usr::LEN).is_err() {
        return Err(Error::UserNotRegistered.into());
    }
    {
        // SAFETY: read-only access; no mutable borrow of the user account is live.
        let d = unsafe { user.borrow_unchecked() };
        if d[usr::WALLET..usr::WALLET + 32] != owner_key.as_ref()[..] {
            return Err(Error::UserNotRegistered.into());
        }
        if d[usr::USER_TYPE] != PROSUMER {
            return Err(Error::NotProsumer.into());
        }
    }
    let bump = pda::canonical(meter, &[seeds::METER, &meter_id], program_id)?;
    let bump_seed = [bump];
    NewAccount { payer: owner, target: meter, space: mtr::LEN, owner: program_id, seeds: &[Seed::from(seeds::METER), Seed::from(&meter_id), Seed::from(&bump_seed)] }.create()?;
    let now = sysvar::unix_timestamp()?;
    let device_key: [u8; 32] = bytes::array(data, ixd::arg::DEVICE_KEY);
    let location: [u8; 32] = bytes::array(data, ixd::arg::LOCATION);

    {
        let mut d = accounts[ixd::account::METER].try_borrow_mut()?;
        bytes::write(&mut d, 0, &mtr::DISCRIMINATOR);
        bytes::write(&mut d, mtr::METER_ID, &meter_id);
        bytes::write(&mut d, mtr::OWNER, owner_key.as_ref());
        bytes::write(&mut d, mtr::DEVICE_KEY, &device_key);
        bytes::write(&mut d, mtr::LOCATION, &location);
        d[mtr::STATUS] = METER_ACTIVE;
        bytes::write_i64(&mut d, mtr::REGISTERED_AT, now);
        d[mtr::BUMP] = bump;
    }
    {
        let mut d = accounts[ixd::account::USER].try_borrow_mut()?;
        let n = bytes::read_u32(&d, usr::METER_COUNT).checked_add(1).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u32(&mut d, usr::METER_COUNT, n);
    }
    {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        let n = bytes::read_u64(&d, cfg::METER_COUNT).checked_add(1).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, cfg::METER_COUNT, n);
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::METER_ID, &meter_id);
    bytes::write(&mut e, ev::OWNER, owner_key.as_ref());
    bytes::write(&mut e, ev::DEVICE_KEY, &device_key);
    bytes::write_i64(&mut e, ev::REGISTERED_AT, now);
    event::emit(&e);
    Ok(())
}
