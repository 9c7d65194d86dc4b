//! Loading a meter account: the checks every meter instruction repeats.

use gtx_common::{checks, CommonError};
use pinocchio::{error::ProgramError, AccountView, Address};

use crate::interface::{state::meter as mtr, Error};

pub const METER_INACTIVE: u8 = 0;
pub const METER_ACTIVE: u8 = 1;

/// `meter` is a writable meter account of this registry.
pub fn writable_meter(meter: &AccountView, program_id: &Address) -> Result<(), ProgramError> {
    checks::writable(meter)?;
    match checks::program_account(meter, program_id, &mtr::DISCRIMINATOR, mtr::LEN) {
        Err(ProgramError::Custom(c)) if c == CommonError::InvalidAccountOwner as u32 || c == CommonError::InvalidAccountData as u32 => {
            Err(Error::UnknownMeter.into())
        }
        other => other,
    }
}

/// The meter is active (readings and key rotation allowed).
pub fn require_active(data: &[u8]) -> Result<(), ProgramError> {
    if data[mtr::STATUS] == METER_ACTIVE { Ok(()) } else { Err(Error::MeterInactive.into()) }
}
