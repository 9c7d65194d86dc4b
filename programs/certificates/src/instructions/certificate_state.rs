//! Certificate statuses and the checks every certificate instruction repeats.
//!
//! ```text
//! PENDING --validate--> VALID --retire--> RETIRED   (terminal)
//!    |                    |--revoke---> REVOKED   (terminal)
//!    |                    '--expire---> EXPIRED   (terminal)
//!    '--revoke / expire (never validated) --^
//! ```

use gtx_common::{checks, CommonError};
use pinocchio::{error::ProgramError, AccountView, Address};

use crate::interface::{state::certificate as crt, state::certificates_config as cfg, Error};

pub const PENDING: u8 = 0;
pub const VALID: u8 = 1;
pub const RETIRED: u8 = 2;
pub const REVOKED: u8 = 3;
pub const EXPIRED: u8 = 4;

/// Energy sources a certificate may name: 0 solar, 1 wind, 2 hydro, 3 biomass, 4 geothermal.
pub const MAX_SOURCE: u8 = 4;

/// `certificate` is a writable certificate account of this program.
pub fn writable_certificate(certificate: &AccountView, program_id: &Address) -> Result<(), ProgramError> {
    checks::writable(certificate)?;
    match checks::program_account(certificate, program_id, &crt::DISCRIMINATOR, crt::LEN) {
        Err(ProgramError::Custom(c))
            if c == CommonError::InvalidAccountOwner as u32 || c == CommonError::InvalidAccountData as u32 =>
        {
            Err(Error::UnknownCertificate.into())
        }
        other => other,
    }
}

/// `config` is this program's config account.
#[inline(always)]
pub fn config(config: &AccountView, program_id: &Address) -> Result<(), ProgramError> {
    checks::program_account(config, program_id, &cfg::DISCRIMINATOR, cfg::LEN)
}

/// Not yet retired, revoked or expired: revoke and expire apply.
#[inline(always)]
pub fn require_open(data: &[u8]) -> Result<(), ProgramError> {
    match data[crt::STATUS] {
        PENDING | VALID => Ok(()),
        _ => Err(Error::CertificateFinal.into()),
    }
}

/// VALID and held by `holder`, before its expiry: transfer and retire apply.
pub fn require_tradeable(data: &[u8], holder: &Address, now: i64) -> Result<(), ProgramError> {
    if data[crt::OWNER..crt::OWNER + 32] != holder.as_ref()[..] {
        return Err(Error::NotCertificateOwner.into());
    }
    if data[crt::STATUS] != VALID {
        return Err(Error::CertificateNotValid.into());
    }
    if now >= gtx_common::bytes::read_i64(data, crt::EXPIRES_AT) {
        return Err(Error::CertificateExpired.into());
    }
    Ok(())
}
