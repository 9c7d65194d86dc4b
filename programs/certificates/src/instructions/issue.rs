//! `issue(start_at, end_at, energy_wh, source)`: the meter's owner requests a PENDING
//! certificate for the meter's production in `[start_at, end_at)`.
//!
//! No double issuance: the per-meter tracker `["issuance", meter]` holds the Wh already
//! certified, and a certificate is refused unless `certified_wh + energy_wh` stays within
//! the meter's cumulative `total_production_wh` recorded by the registry. Intervals of one
//! meter's certificates never overlap (each starts at or after the previous one's end) and
//! must be metered: they end no later than the meter's last reading and the clock. The
//! per-interval figure itself is the owner's claim, which the issuer checks against the
//! meter's readings before validating; the program enforces the cumulative bound.

use gtx_common::{bytes, checks, event, ids, pda::{self, NewAccount}, sysvar, CommonError, Context};
use pinocchio::{cpi::Seed, error::ProgramError, AccountView, Address, ProgramResult};

use super::certificate_state::{config, MAX_SOURCE, PENDING};
use crate::interface::{
    events::certificate_issued as ev, ix::issue as ixd, seeds, state::certificate as crt,
    state::certificates_config as cfg, state::issuance_tracker as trk, Error,
};
use crate::registry_interface::state::meter as mtr;

/// The registry's meter status for an active meter.
const METER_ACTIVE: u8 = 1;

/// What the tracker says about a meter before this issuance.
struct Tracker {
    certified_wh: u64,
    next_sequence: u64,
    last_end_at: i64,
    /// Bump of a tracker PDA still to be created; `None` when it exists.
    create_bump: Option<u8>,
}

/// Read the meter's tracker, or check that it is the meter's (still empty) tracker PDA.
fn load_tracker(tracker: &AccountView, meter: &Address, program_id: &Address) -> Result<Tracker, ProgramError> {
    if tracker.owned_by(program_id) {
        checks::program_account(tracker, program_id, &trk::DISCRIMINATOR, trk::LEN)?;
        // SAFETY: read-only access; no mutable borrow of the tracker is live.
        let d = unsafe { tracker.borrow_unchecked() };
        // Trackers are only created at their meter's PDA, so the stored meter proves the address.
        if d[trk::METER..trk::METER + 32] != meter.as_ref()[..] {
            return Err(CommonError::InvalidPda.into());
        }
        return Ok(Tracker {
            certified_wh: bytes::read_u64(d, trk::CERTIFIED_WH),
            next_sequence: bytes::read_u64(d, trk::NEXT_SEQUENCE),
            last_end_at: bytes::read_i64(d, trk::LAST_END_AT),
            create_bump: None,
        });
    }
    let bump = pda::canonical(tracker, &[seeds::ISSUANCE, meter.as_ref()], program_id)?;
    Ok(Tracker { certified_wh: 0, next_sequence: 0, last_end_at: i64::MIN, create_bump: Some(bump) })
}

/// The registry meter's fields this instruction needs, after checking the account.
struct Meter {
    meter_id: [u8; 32],
    location: [u8; 32],
    total_production_wh: u64,
    last_reading_at: i64,
}

fn load_meter(meter: &AccountView, owner: &Address) -> Result<Meter, ProgramError> {
    let registry = Address::new_from_array(ids::registry::ID);
    if checks::program_account(meter, &registry, &mtr::DISCRIMINATOR, mtr::LEN).is_err() {
        return Err(Error::UnknownMeter.into());
    }
    // SAFETY: read-only access to another program's account; nothing borrows it mutably.
    let d = unsafe { meter.borrow_unchecked() };
    if d[mtr::OWNER..mtr::OWNER + 32] != owner.as_ref()[..] {
        return Err(Error::NotMeterOwner.into());
    }
    if d[mtr::STATUS] != METER_ACTIVE {
        return Err(Error::MeterInactive.into());
    }
    Ok(Meter {
        meter_id: bytes::array(d, mtr::METER_ID),
        location: bytes::array(d, mtr::LOCATION),
        total_production_wh: bytes::read_u64(d, mtr::TOTAL_PRODUCTION_WH),
        last_reading_at: bytes::read_i64(d, mtr::LAST_READING_AT),
    })
}

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let start_at = bytes::read_i64(data, ixd::arg::START_AT);
    let end_at = bytes::read_i64(data, ixd::arg::END_AT);
    let energy_wh = bytes::read_u64(data, ixd::arg::ENERGY_WH);
    let source = data[ixd::arg::SOURCE];
    if source > MAX_SOURCE {
        return Err(Error::InvalidSource.into());
    }
    if start_at >= end_at {
        return Err(Error::InvalidInterval.into());
    }
    if energy_wh == 0 {
        return Err(Error::ZeroEnergy.into());
    }

    let owner = &accounts[ixd::account::OWNER];
    let cfg_account = &accounts[ixd::account::CONFIG];
    let meter_account = &accounts[ixd::account::METER];
    let tracker_account = &accounts[ixd::account::TRACKER];
    let certificate = &accounts[ixd::account::CERTIFICATE];
    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(cfg_account)?;
    checks::writable(tracker_account)?;
    checks::writable(certificate)?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    config(cfg_account, program_id)?;
    // SAFETY: read-only access; no mutable borrow of the config is live.
    let validity_secs = bytes::read_i64(unsafe { cfg_account.borrow_unchecked() }, cfg::VALIDITY_SECS);
    let owner_key = *owner.address();
    let meter_key = *meter_account.address();
    let certificate_key = *certificate.address();
    let meter = load_meter(meter_account, &owner_key)?;
    let now = sysvar::unix_timestamp()?;
    if end_at > meter.last_reading_at || end_at > now {
        return Err(Error::IntervalNotMetered.into());
    }
    let tracker = load_tracker(tracker_account, &meter_key, program_id)?;
    if start_at < tracker.last_end_at {
        return Err(Error::IntervalOverlaps.into());
    }
    let certified_wh = tracker.certified_wh.checked_add(energy_wh).ok_or(CommonError::ArithmeticOverflow)?;
    if certified_wh > meter.total_production_wh {
        return Err(Error::InsufficientGeneration.into());
    }
    let expires_at = end_at.checked_add(validity_secs).ok_or(CommonError::ArithmeticOverflow)?;
    let sequence = tracker.next_sequence;
    let next_sequence = sequence.checked_add(1).ok_or(CommonError::ArithmeticOverflow)?;
    let sequence_le = sequence.to_le_bytes();
    let bump = pda::canonical(certificate, &[seeds::CERTIFICATE, meter_key.as_ref(), &sequence_le], program_id)?;

    // Every check passed: create and write.
    if let Some(tracker_bump) = tracker.create_bump {
        let bump_seed = [tracker_bump];
        NewAccount { payer: owner, target: tracker_account, space: trk::LEN, owner: program_id, seeds: &[Seed::from(seeds::ISSUANCE), Seed::from(meter_key.as_ref()), Seed::from(&bump_seed)] }.create()?;
    }
    let bump_seed = [bump];
    NewAccount { payer: owner, target: certificate, space: crt::LEN, owner: program_id, seeds: &[Seed::from(seeds::CERTIFICATE), Seed::from(meter_key.as_ref()), Seed::from(&sequence_le), Seed::from(&bump_seed)] }.create()?;

    {
        let mut d = accounts[ixd::account::TRACKER].try_borrow_mut()?;
        if let Some(tracker_bump) = tracker.create_bump {
            bytes::write(&mut d, 0, &trk::DISCRIMINATOR);
            bytes::write(&mut d, trk::METER, meter_key.as_ref());
            d[trk::BUMP] = tracker_bump;
        }
        bytes::write_u64(&mut d, trk::CERTIFIED_WH, certified_wh);
        bytes::write_u64(&mut d, trk::NEXT_SEQUENCE, next_sequence);
        bytes::write_i64(&mut d, trk::LAST_END_AT, end_at);
    }
    {
        let mut d = accounts[ixd::account::CERTIFICATE].try_borrow_mut()?;
        bytes::write(&mut d, 0, &crt::DISCRIMINATOR);
        bytes::write(&mut d, crt::METER, meter_key.as_ref());
        bytes::write(&mut d, crt::METER_ID, &meter.meter_id);
        bytes::write_u64(&mut d, crt::SEQUENCE, sequence);
        bytes::write(&mut d, crt::OWNER, owner_key.as_ref());
        bytes::write_u64(&mut d, crt::ENERGY_WH, energy_wh);
        bytes::write_i64(&mut d, crt::START_AT, start_at);
        bytes::write_i64(&mut d, crt::END_AT, end_at);
        bytes::write(&mut d, crt::LOCATION, &meter.location);
        d[crt::SOURCE] = source;
        d[crt::STATUS] = PENDING;
        bytes::write_i64(&mut d, crt::ISSUED_AT, now);
        bytes::write_i64(&mut d, crt::EXPIRES_AT, expires_at);
        d[crt::BUMP] = bump;
    }
    {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        let count = bytes::read_u64(&d, cfg::CERTIFICATE_COUNT).checked_add(1).ok_or(CommonError::ArithmeticOverflow)?;
        let total = bytes::read_u64(&d, cfg::CERTIFIED_WH).checked_add(energy_wh).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, cfg::CERTIFICATE_COUNT, count);
        bytes::write_u64(&mut d, cfg::CERTIFIED_WH, total);
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::CERTIFICATE, certificate_key.as_ref());
    bytes::write(&mut e, ev::METER_ID, &meter.meter_id);
    bytes::write_u64(&mut e, ev::SEQUENCE, sequence);
    bytes::write(&mut e, ev::OWNER, owner_key.as_ref());
    bytes::write_u64(&mut e, ev::ENERGY_WH, energy_wh);
    bytes::write_i64(&mut e, ev::START_AT, start_at);
    bytes::write_i64(&mut e, ev::END_AT, end_at);
    bytes::write(&mut e, ev::LOCATION, &meter.location);
    e[ev::SOURCE] = source;
    bytes::write_i64(&mut e, ev::EXPIRES_AT, expires_at);
    bytes::write_u64(&mut e, ev::METER_CERTIFIED_WH, certified_wh);
    event::emit(&e);
    Ok(())
}
